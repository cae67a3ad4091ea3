package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// OCIOptions is the tend-runc benchmark: containers through tend-runc
// against the same containers through plain runc.
type OCIOptions struct {
	TendRunc string // a tend-runc (symlink named tend-runc to tend)
	Runc     string // the real runtime ("" = runc from PATH)
	Busybox  string // static busybox for the rootfs ("" = /bin/busybox)
	Runs     int    // measured runs per variant, round-robin
	// Floor, when set, is the argv prefix of a minimal Go program that
	// execs the real runtime at once (tendbench exec-runtime RUNC): the
	// cost of any Go wrapper, measured as a column.
	Floor []string
	Log   func(format string, a ...any)
}

// OCI column names.
const (
	OCIRunc        = "runc"
	OCIFloor       = "Go exec floor"
	OCIPassThrough = "tend-runc, inject=false"
	OCITendRunc    = "tend-runc"
)

// OCIColumns is the order of the OCI table's columns.
var OCIColumns = []string{OCIRunc, OCIFloor, OCIPassThrough, OCITendRunc}

// OCIReport is the outcome: one row per measured operation, medians (ms).
type OCIReport struct {
	Start, End time.Time
	Load       [2]string
	Runs       int
	Versions   map[string]string
	Rows       []Row
}

// RunOCI measures, for each column, with /bin/true as the container's
// command and the bundle on the same filesystem:
//   - the shim's sequence (containerd's runc shim, CRI-O's conmon): create
//     --pid-file, start, wait for the container's init (this process is a
//     child subreaper, as the shim is), delete;
//   - `run` (create, start, wait, delete in one runtime process);
//   - `state` of an existing container: a pass-through command.
//
// Variants are interleaved, the order rotated every round. Each tend-runc
// run gets a fresh copy of the original config.json (outside the timed
// part), so every create pays for the rewrite.
func RunOCI(o OCIOptions) (*OCIReport, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Runc == "" {
		p, err := exec.LookPath("runc")
		if err != nil {
			return nil, err
		}
		o.Runc = p
	}
	if o.Busybox == "" {
		o.Busybox = "/bin/busybox"
	}
	if o.Runs <= 0 {
		o.Runs = 100
	}
	tmp, err := os.MkdirTemp("", "tendbench-oci")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// The bench process is the subreaper of the containers it creates, so
	// it can wait for their exit like the shim does.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		return nil, err
	}
	bb, err := os.ReadFile(o.Busybox)
	if err != nil {
		return nil, fmt.Errorf("busybox: %v (apt-get install busybox-static)", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		return nil, err
	}
	for _, a := range []string{"true", "sleep", "sh"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	base, err := ociSpec(o.Runc, tmp, rootfs)
	if err != nil {
		return nil, err
	}
	type variant struct {
		name   string
		argv   []string
		config []byte
		bundle string
		root   string
	}
	optOut, err := withAnnotation(base, "tend.sh/inject", "false")
	if err != nil {
		return nil, err
	}
	vs := []*variant{
		{name: OCIRunc, argv: []string{o.Runc}, config: base},
		{name: OCIPassThrough, argv: []string{o.TendRunc}, config: optOut},
		{name: OCITendRunc, argv: []string{o.TendRunc}, config: base},
	}
	if len(o.Floor) > 0 {
		vs = append(vs, &variant{name: OCIFloor, argv: o.Floor, config: base})
	}
	for i, v := range vs {
		v.bundle = filepath.Join(tmp, fmt.Sprintf("bundle%d", i))
		v.root = filepath.Join(tmp, fmt.Sprintf("state%d", i))
		if err := os.MkdirAll(v.bundle, 0o755); err != nil {
			return nil, err
		}
	}
	dn, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer dn.Close()
	runtimeCmd := func(v *variant, args ...string) error {
		cmd := exec.Command(v.argv[0], append(append(v.argv[1:len(v.argv):len(v.argv)], "--root", v.root, "--log", filepath.Join(v.bundle, "log.json"), "--log-format", "json"), args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = dn, dn, dn
		if err := cmd.Run(); err != nil {
			log, _ := os.ReadFile(filepath.Join(v.bundle, "log.json"))
			return fmt.Errorf("%s %v: %v; log: %s", v.name, args, err, lastLine(log))
		}
		return nil
	}
	reset := func(v *variant) error {
		return os.WriteFile(filepath.Join(v.bundle, "config.json"), v.config, 0o644)
	}
	seq := 0
	shim := func(v *variant) (time.Duration, error) {
		seq++
		id := fmt.Sprintf("bench-%d-%d", os.Getpid(), seq)
		pidFile := filepath.Join(v.bundle, "init.pid")
		os.Remove(pidFile)
		if err := reset(v); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := runtimeCmd(v, "create", "--bundle", v.bundle, "--pid-file", pidFile, id); err != nil {
			return 0, err
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return 0, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, fmt.Errorf("pid file %q: %v", b, err)
		}
		if err := runtimeCmd(v, "start", id); err != nil {
			return 0, err
		}
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				if err != nil {
					return 0, fmt.Errorf("wait4 %d: %v", pid, err)
				}
				break
			}
		}
		if err := runtimeCmd(v, "delete", id); err != nil {
			return 0, err
		}
		d := time.Since(start)
		if ws.ExitStatus() != 0 {
			return 0, fmt.Errorf("%s: container exited %v", v.name, ws)
		}
		return d, nil
	}
	runOnce := func(v *variant) (time.Duration, error) {
		seq++
		if err := reset(v); err != nil {
			return 0, err
		}
		start := time.Now()
		err := runtimeCmd(v, "run", "--bundle", v.bundle, fmt.Sprintf("bench-%d-%d", os.Getpid(), seq))
		return time.Since(start), err
	}
	// state: of one long-lived container per variant.
	sleepers := map[*variant]string{}
	defer func() {
		for v, id := range sleepers {
			runtimeCmd(v, "delete", "--force", id)
		}
	}()
	for _, v := range vs {
		sl, err := withArgs(v.config, "sleep", "3600")
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(v.bundle, "sleeper")
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), sl, 0o644); err != nil {
			return nil, err
		}
		id := fmt.Sprintf("bench-sleep-%d-%d", os.Getpid(), len(sleepers))
		if err := runtimeCmd(v, "create", "--bundle", dir, id); err != nil {
			return nil, err
		}
		sleepers[v] = id
	}
	stateOnce := func(v *variant) (time.Duration, error) {
		start := time.Now()
		err := runtimeCmd(v, "state", sleepers[v])
		return time.Since(start), err
	}

	rep := &OCIReport{Start: time.Now(), Load: [2]string{loadavg()}, Runs: o.Runs, Versions: map[string]string{}}
	rep.Versions[OCIRunc] = firstLine(o.Runc, "--version")
	ops := []struct {
		name string
		f    func(*variant) (time.Duration, error)
	}{
		{"container create+start+exit+delete, shim sequence (/bin/true)", shim},
		{"`run` (/bin/true)", runOnce},
		{"pass-through `state`", stateOnce},
	}
	for _, op := range ops {
		samples := map[string][]float64{}
		for round := -3; round < o.Runs; round++ { // 3 warm-up rounds
			for k := range vs {
				v := vs[(k+round+3)%len(vs)]
				d, err := op.f(v)
				if err != nil {
					return nil, err
				}
				if round >= 0 {
					samples[v.name] = append(samples[v.name], ms(d))
				}
			}
		}
		row := Row{Name: op.name + ", median", Unit: "ms", Ratio: true}
		for _, v := range vs {
			row.set(v.name, median(samples[v.name]))
		}
		if op.name == ops[0].name {
			row.Target = "≤ 1.05× runc"
			row.Met = yes(row.Val[OCITendRunc] <= 1.05*row.Val[OCIRunc])
		}
		rep.Rows = append(rep.Rows, row)
		o.Log("oci: %s: runc %.2f ms, Go floor %.2f ms, inject=false %.2f ms, tend-runc %.2f ms", op.name, row.Val[OCIRunc], row.Val[OCIFloor], row.Val[OCIPassThrough], row.Val[OCITendRunc])
	}
	rep.End = time.Now()
	rep.Load[1] = loadavg()
	return rep, nil
}

// ociSpec is `runc spec` adapted: rootfs, no terminal, /bin/true.
func ociSpec(runc, dir, rootfs string) ([]byte, error) {
	d := filepath.Join(dir, "spec")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.Command(runc, "spec", "--bundle", d).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(d, "config.json"))
	if err != nil {
		return nil, err
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	s["root"] = map[string]any{"path": rootfs, "readonly": true}
	p := s["process"].(map[string]any)
	p["terminal"] = false
	p["args"] = []string{"/bin/true"}
	return json.Marshal(s)
}

func withAnnotation(config []byte, k, v string) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(config, &s); err != nil {
		return nil, err
	}
	s["annotations"] = map[string]any{k: v}
	return json.Marshal(s)
}

func withArgs(config []byte, args ...string) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(config, &s); err != nil {
		return nil, err
	}
	s["process"].(map[string]any)["args"] = args
	return json.Marshal(s)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).Output()
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

// OCIBegin and OCIEnd delimit the generated tend-runc table in
// BENCHMARKS.md.
const (
	OCIBegin = "<!-- tendbench-oci:begin (generated by `make bench-compare`; do not edit by hand) -->"
	OCIEnd   = "<!-- tendbench-oci:end -->"
)

// Markdown renders the tend-runc table: medians and tend-runc's ratio to
// plain runc.
func (rep *OCIReport) Markdown(command string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s (%.0f s) on %s: %s, %d CPUs, kernel %s; %d runs per column, interleaved, after 3 warm-up rounds.\n",
		rep.Start.UTC().Format("2006-01-02 15:04 MST"), rep.End.Sub(rep.Start).Seconds(), host, cpuModel(), runtime.NumCPU(), kernel(), rep.Runs)
	fmt.Fprintf(&b, "Load average at start: %s; at end: %s. Real runtime: `%s`. Command: `%s`.\n\n", rep.Load[0], rep.Load[1], rep.Versions[OCIRunc], command)
	fmt.Fprintf(&b, "| operation | %s | tend-runc ÷ runc | inject=false ÷ runc | Go floor ÷ runc | target | met |\n", strings.Join(OCIColumns, " | "))
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	ratio := func(r Row, c string) string {
		v, ok := r.Val[c]
		if !ok || r.Val[OCIRunc] == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f×", v/r.Val[OCIRunc])
	}
	for _, r := range rep.Rows {
		cells := []string{r.Name + " (" + r.Unit + ")"}
		for _, c := range OCIColumns {
			if v, ok := r.Val[c]; ok {
				cells = append(cells, num(v, r.Unit))
			} else {
				cells = append(cells, "–")
			}
		}
		cells = append(cells, ratio(r, OCITendRunc), ratio(r, OCIPassThrough), ratio(r, OCIFloor), r.Target, bold(r.Met))
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.String()
}

// UpdateOCIFile writes md between the OCI markers of path (appended when
// they are absent), keeping everything else.
func UpdateOCIFile(path, md string) error {
	return updateBlock(path, OCIBegin, OCIEnd, "", md)
}
