package bench

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ---- log forwarding: tend text and JSON vs the copy floor and supervisord ----

// LogRow is one line of the log-forwarding table: one tool on one
// workload.
type LogRow struct {
	Workload string
	Tool     string  // "copy floor", "supervisord", "tend text", "tend JSON"
	Lines    int     // lines the workload writes
	CPU      float64 // CPU seconds (user+system) of the whole process tree, median
	Wall     float64 // wall seconds, median
	Floor    float64 // the copy floor's CPU on the same workload
	Super    float64 // supervisord's CPU on the same workload (NaN: not installed)
	MaxFloor float64 // target: at most this many times the floor (0: none)
	// For the log-file rows: the CPU of tend forwarding the same format to
	// stdout, and the target ratio to it (issue 21: ≤ 1.1×).
	Stdout    float64
	MaxStdout float64
}

// The tools of the log table.
const (
	logFloor = "copy floor"
	logSuper = "supervisord"
	logText  = "tend text"
	logJSON  = "tend JSON"
	// tend writing every service's lines to a log file instead of its
	// stdout: max_size 1GB (never reached: the forwarding alone), and
	// "rotated" at 50MB with 2 files (the single workload rotates 4 times,
	// each rotation from the second on removing a 50 MB file).
	logTextFile    = "tend text file"
	logJSONFile    = "tend JSON file"
	logTextRotated = "tend text file rotated"
	logJSONRotated = "tend JSON file rotated"
	// Their baselines: tend forwarding to its stdout, redirected to a
	// file on the same file system, timestamps on (the same bytes land in
	// a file: what a runtime capturing stdout to a file does, minus its
	// own copy).
	logTextOut = "tend text >file"
	logJSONOut = "tend JSON >file"
)

// logWorkload is a set of services, each writing files to its stdout and
// stderr at the same time, then exiting.
type logWorkload struct {
	name  string
	lines int
	svcs  []logSvc
}

type logSvc struct {
	name           string
	stdout, stderr string // files to cat there ("" for none)
}

// writeLines writes n lines to path; size(i) is the length of line i
// without its newline. Each line starts with its number, the rest is
// printable ASCII.
func writeLines(path string, n int, size func(i int) int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const pad = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
	for i := range n {
		s := fmt.Sprintf("%07d ", i)
		for l := size(i); len(s) < l; {
			s += pad[:min(len(pad), l-len(s))]
		}
		w.WriteString(s)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// logWorkloads writes the files of the two workloads: "single", one
// service printing o.LogLines lines of 100 bytes (newline included) to
// stdout; and "mixed", four services each printing a quarter of them, half
// on stdout (10 to 300 bytes, every 50th line 4 KiB) and half on stderr
// (30 bytes), both streams at once.
func (r *runner) logWorkloads() ([]logWorkload, error) {
	dir := filepath.Join(r.tmp, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	n := r.o.LogLines
	single := filepath.Join(dir, "single")
	if err := writeLines(single, n, func(int) int { return 99 }); err != nil {
		return nil, err
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, n/8)
	for i := range sizes {
		sizes[i] = 10 + rnd.IntN(291)
		if i%50 == 49 {
			sizes[i] = 4096
		}
	}
	out, errf := filepath.Join(dir, "mixed-out"), filepath.Join(dir, "mixed-err")
	if err := writeLines(out, n/8, func(i int) int { return sizes[i] }); err != nil {
		return nil, err
	}
	if err := writeLines(errf, n/8, func(int) int { return 30 }); err != nil {
		return nil, err
	}
	mixed := logWorkload{name: "mixed", lines: 4 * 2 * (n / 8)}
	for i := range 4 {
		mixed.svcs = append(mixed.svcs, logSvc{fmt.Sprintf("svc%d", i), out, errf})
	}
	return []logWorkload{
		{name: "single", lines: n, svcs: []logSvc{{"app", single, ""}}},
		mixed,
	}, nil
}

// svcScript is the shell command of one service: cat its files to stdout
// and stderr at once; the last service to finish stops the supervisor
// (its parent) with SIGTERM, counting the finished ones in count.
func (s logSvc) script(count string, total int) string {
	var b strings.Builder
	if s.stderr != "" {
		fmt.Fprintf(&b, "cat %s >&2 & ", s.stderr)
	}
	fmt.Fprintf(&b, "cat %s; wait; echo x >> %s; [ $(wc -l < %s) -ge %d ] && kill -TERM $PPID; exit 0", s.stdout, count, count, total)
	return b.String()
}

// logArgv writes the configuration of tool for w and returns its command
// line.
func (r *runner) logArgv(tool string, w logWorkload, dir string) []string {
	count := filepath.Join(dir, "finished")
	switch tool {
	case logFloor:
		// Every service's output through one extra pipe hop.
		if len(w.svcs) == 1 && w.svcs[0].stderr == "" {
			return []string{"/bin/sh", "-c", "cat " + w.svcs[0].stdout + " | cat"}
		}
		var b strings.Builder
		b.WriteString("{ ")
		for _, s := range w.svcs {
			if s.stderr != "" {
				fmt.Fprintf(&b, "cat %s >&2 & ", s.stderr)
			}
			fmt.Fprintf(&b, "cat %s & ", s.stdout)
		}
		b.WriteString("wait; } 2>&1 | cat")
		return []string{"/bin/sh", "-c", b.String()}
	case logSuper:
		var b strings.Builder
		fmt.Fprintf(&b, "[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s\nloglevel=warn\nuser=root\n\n", dir, dir, dir)
		for _, s := range w.svcs {
			fmt.Fprintf(&b, "[program:%s]\ncommand=/bin/sh -c %q\nautorestart=false\nstartsecs=0\n"+
				"stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0\nstderr_logfile=/dev/stderr\nstderr_logfile_maxbytes=0\n\n",
				s.name, s.script(count, len(w.svcs)))
		}
		conf := filepath.Join(dir, "supervisord.conf")
		os.WriteFile(conf, []byte(b.String()), 0o644)
		return []string{"supervisord", "-c", conf}
	default: // "tend text", "tend JSON", "tend text file", "VARIANT text", ...
		f := strings.Fields(tool)
		name := f[0]
		var b strings.Builder
		if f[1] == "JSON" {
			b.WriteString("log_format = \"json\"\n")
		}
		if len(f) > 2 && f[1] == "text" {
			b.WriteString("log_timestamps = true\n") // as in a log file
		}
		for _, s := range w.svcs {
			fmt.Fprintf(&b, "\n[service.%s]\ncommand = [\"/bin/sh\", \"-c\", %q]\n", s.name, s.script(count, len(w.svcs)))
			if len(f) > 2 && f[2] == "file" {
				size := "1GB" // not reached: forwarding alone
				if len(f) > 3 && f[3] == "rotated" {
					size = "50MB"
				}
				fmt.Fprintf(&b, "log = { file = %q, max_size = %q, max_files = 2 }\n", filepath.Join(dir, s.name+".log"), size)
			}
		}
		conf := filepath.Join(dir, "tend.toml")
		os.WriteFile(conf, []byte(b.String()), 0o644)
		return []string{r.tools[name].path, "-c", conf}
	}
}

// runTreeTo runs argv with stdio on /dev/null and returns the CPU time
// (user+system) of its whole process tree: the rusage of the child covers
// every descendant it waited for, and each of these tools waits for all
// of its own.
//
// With out not "", its stdout and stderr go to the file out (created).
func (r *runner) runTreeTo(argv []string, out string) (cpu, wall float64, err error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.devnull, r.devnull, r.devnull
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Minute):
		cmd.Process.Kill()
		<-done
		return 0, 0, fmt.Errorf("%s did not finish in 10 minutes", argv[0])
	}
	wall = time.Since(t0).Seconds()
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %v", argv, err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return cpu, wall, nil
}

// logs measures the log table: o.LogRuns rounds, the tools interleaved
// (the order rotated every round), medians.
func (r *runner) logs() ([]LogRow, error) {
	ws, err := r.logWorkloads()
	if err != nil {
		return nil, err
	}
	tools := []string{logFloor, logText, logJSON, logTextOut, logTextFile, logTextRotated, logJSONOut, logJSONFile, logJSONRotated}
	if r.present[Supervisor] {
		tools = append(tools, logSuper)
	}
	for _, v := range r.o.Variants { // a tend build measured beside tend
		tools = append(tools, v.Name+" text", v.Name+" JSON")
	}
	var rows []LogRow
	for _, w := range ws {
		cpus, walls := map[string][]float64{}, map[string][]float64{}
		for i := 0; i < r.o.LogRuns; i++ {
			for j := range tools {
				tool := tools[(i+j)%len(tools)]
				dir, err := os.MkdirTemp(r.tmp, "logrun")
				if err != nil {
					return nil, err
				}
				out := ""
				if strings.HasSuffix(tool, ">file") {
					out = filepath.Join(dir, "stdout.log")
				}
				cpu, wall, err := r.runTreeTo(r.logArgv(tool, w, dir), out)
				os.RemoveAll(dir)
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %v", w.name, tool, err)
				}
				cpus[tool] = append(cpus[tool], cpu)
				walls[tool] = append(walls[tool], wall)
			}
		}
		floor, super := median(cpus[logFloor]), math.NaN()
		if len(cpus[logSuper]) > 0 {
			super = median(cpus[logSuper])
		}
		order := []string{logFloor, logSuper, logText, logJSON, logTextOut, logTextFile, logTextRotated, logJSONOut, logJSONFile, logJSONRotated}
		for _, v := range r.o.Variants {
			order = append(order, v.Name+" text", v.Name+" JSON")
		}
		for _, tool := range order {
			if len(cpus[tool]) == 0 {
				continue
			}
			row := LogRow{Workload: w.name, Tool: tool, Lines: w.lines, CPU: median(cpus[tool]), Wall: median(walls[tool]), Floor: floor, Super: super}
			switch {
			case tool == logText:
				row.MaxFloor = 2
			case tool == logJSON:
				row.MaxFloor = 4
			case tool == logTextFile:
				row.Stdout, row.MaxStdout = median(cpus[logTextOut]), 1.1
			case tool == logJSONFile:
				row.Stdout, row.MaxStdout = median(cpus[logJSONOut]), 1.1
			case tool == logTextRotated:
				row.Stdout = median(cpus[logTextOut]) // shown, no target
			case tool == logJSONRotated:
				row.Stdout = median(cpus[logJSONOut])
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// logsMarkdown renders the log table.
func logsMarkdown(rows []LogRow, runs int) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n**Log forwarding** (output to /dev/null; CPU = user+system seconds of the whole process tree, median of %d, tools interleaved; "+
		"single: one service, %d lines of 100 bytes; mixed: 4 services, stdout and stderr at once, short and long lines; "+
		"\"file\": each service's lines to its log file (log = { file, max_size = \"1GB\", max_files = 2 }: not reached; \"rotated\": max_size = \"50MB\", rotated 4 times in the single workload; timestamps on) instead of tend's stdout; "+
		"\">file\": tend's stdout and stderr redirected to one file on the same file system, timestamps on, the baseline of the file rows):\n\n", runs, rows[0].Lines)
	b.WriteString("| workload | tool | CPU (s) | CPU per million lines (s) | lines/s | × copy floor | × supervisord | target | met |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range rows {
		xs := "–"
		if !math.IsNaN(r.Super) && r.Super > 0 {
			xs = fmt.Sprintf("%.2f×", r.CPU/r.Super)
		}
		target, met := "", ""
		if r.MaxFloor > 0 {
			target = fmt.Sprintf("≤ %g× floor, < supervisord", r.MaxFloor)
			ok := r.CPU <= r.MaxFloor*r.Floor && (math.IsNaN(r.Super) || r.CPU < r.Super)
			met = bold(yes(ok))
			if math.IsNaN(r.Super) {
				met += " (no supervisord)"
			}
		}
		if r.Stdout > 0 && r.MaxStdout == 0 {
			target = fmt.Sprintf("(%.2f× tend's stdout to a file)", r.CPU/r.Stdout)
		}
		if r.MaxStdout > 0 {
			target = fmt.Sprintf("≤ %g× tend's stdout to a file (%.2f×)", r.MaxStdout, r.CPU/r.Stdout)
			met = bold(yes(r.CPU <= r.MaxStdout*r.Stdout))
		}
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %.0f | %.2f× | %s | %s | %s |\n",
			r.Workload, r.Tool, r.CPU, r.CPU/(float64(r.Lines)/1e6), float64(r.Lines)/r.Wall, r.CPU/r.Floor, xs, target, met)
	}
	return b.String()
}
