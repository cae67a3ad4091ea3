// Package bench measures tend side by side with tini, dumb-init, catatonit
// and supervisord, in the same run on the same machine, and reports tend's
// ratio to each. The command is bench/cmd/tendbench (`make bench-compare`);
// smoke_test.go runs it with tiny counts so that it cannot rot.
package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options are the programs to compare and how many times to measure.
type Options struct {
	Tend     string   // tend binary
	GoFloor  string   // bench/cmd/gofloor binary: the Go floor column ("" = none)
	Testprog string   // test/testprog binary (orphans, trapterm)
	Stamp    []string // argv prefix of the stamp helper (tendbench stamp)

	StartupRuns int           // runs of X -- /bin/true per tool, round-robin
	Rounds      int           // idle rounds (RSS, threads, wakeups)
	Idle        time.Duration // idle window per round
	TermRuns    int           // SIGTERM -> exit runs per tool
	Orphans     int           // orphans per run
	OrphanRuns  int           // orphan runs per tool
	ShellRuns   int           // shell-wrapper shutdown runs per tool
	ShellDelay  time.Duration // the app's cleanup time after SIGTERM
	SuperRuns   int           // 20-service start runs per supervisor
	Services    int           // services for the supervision rows
	Crashes     int           // crashes timed per supervisor
	CrashRun    time.Duration // how long the crashing service lives
	LogLines    int           // lines of the log-forwarding workloads
	LogRuns     int           // log-forwarding runs per tool and workload

	// Variants are extra tend builds measured like tend, one column each
	// (to measure a lever: a build variant against tend in the same run).
	Variants []Variant

	// Sections, when not empty, limits the run to these sections (startup,
	// idle, term, orphans, shell, supervision, logs); the others' rows are
	// empty.
	Sections []string

	Log io.Writer // progress, warnings about missing peers
}

// Variant is a tend build measured as an extra column.
type Variant struct{ Name, Path string }

// Defaults are the full run (about 4-6 minutes on 2 cores).
func Defaults() Options {
	return Options{
		StartupRuns: 500, Rounds: 3, Idle: 10 * time.Second,
		TermRuns: 40, Orphans: 5000, OrphanRuns: 3,
		ShellRuns: 5, ShellDelay: time.Second,
		SuperRuns: 10, Services: 20, Crashes: 40, CrashRun: 50 * time.Millisecond,
		LogLines: 2000000, LogRuns: 3,
		Log: os.Stderr,
	}
}

// Tool names, in column order. "bare" is /bin/true alone (the floor).
// GoFloor is bench/cmd/gofloor, the least a static Go program does to run
// a child (fork+exec, wait, exit): the floor for any Go init, measured in
// the startup and idle rows only (it handles no signal, reaps no orphan).
const (
	Tend       = "tend"
	GoFloor    = "go floor"
	Tini       = "tini"
	DumbInit   = "dumb-init"
	Catatonit  = "catatonit"
	Supervisor = "supervisord"
)

// Columns is the order of the table's value columns.
var Columns = []string{Tend, GoFloor, Tini, DumbInit, Catatonit, Supervisor}

// Inits are the drop-in inits (one child); supervisord only supervises.
var Inits = []string{Tend, Tini, DumbInit, Catatonit}

type initTool struct {
	name   string
	path   string
	direct []string // flags before the command when not PID 1 (subreaper)
	pid1   []string // flags before the command as PID 1
}

func (t initTool) argv(pid1 bool, cmd ...string) []string {
	a := []string{t.path}
	if pid1 {
		a = append(a, t.pid1...)
	} else {
		a = append(a, t.direct...)
	}
	return append(a, cmd...)
}

// Report is the outcome of one run.
type Report struct {
	Columns    []string // value columns: tend, the peers, then variants
	Start, End time.Time
	Load       [2]string       // /proc/loadavg at start and end: other load on the machine
	Present    map[string]bool // tool -> installed
	Versions   map[string]string
	Floor      [2]float64 // bare /bin/true median, p90 (ms)
	Rows       []Row
	Logs       []LogRow // the log-forwarding table
	LogRuns    int
	Notes      []string
}

// Row is one line of the table. Val holds the value per tool (absent: not
// measured); Text, when set, is shown instead of the number.
type Row struct {
	Name   string
	Unit   string
	Val    map[string]float64
	Text   map[string]string
	Ratio  bool   // show tend's ratio to each peer
	Target string // the target, as text
	Met    string // "yes", "NO", or "" (no target)
}

func (r *Row) set(tool string, v float64) {
	if r.Val == nil {
		r.Val = map[string]float64{}
	}
	r.Val[tool] = v
}

func (r *Row) text(tool, s string) {
	if r.Text == nil {
		r.Text = map[string]string{}
	}
	r.Text[tool] = s
}

type runner struct {
	o       Options
	tools   map[string]initTool
	present map[string]bool
	tmp     string
	devnull *os.File
	notes   []string
	root    bool
	columns []string
	tendish map[string]bool // tend and its variants
}

func (r *runner) logf(format string, a ...any) {
	if r.o.Log != nil {
		fmt.Fprintf(r.o.Log, "tendbench: "+format+"\n", a...)
	}
}

// Run measures everything and returns the report.
func Run(o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	tmp, err := os.MkdirTemp("", "tendbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dn, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer dn.Close()
	r := &runner{o: o, tmp: tmp, devnull: dn, present: map[string]bool{}, root: os.Geteuid() == 0}
	r.tools = map[string]initTool{
		Tend:      {Tend, o.Tend, []string{"--"}, []string{"--"}},
		Tini:      {Tini, "tini", []string{"-s", "--"}, []string{"--"}},
		DumbInit:  {DumbInit, "dumb-init", nil, nil},                        // no subreaper option
		Catatonit: {Catatonit, "catatonit", []string{"--"}, []string{"--"}}, // always a subreaper
		GoFloor:   {GoFloor, o.GoFloor, nil, nil},
	}
	load0 := loadavg()
	r.columns = slices.Clone(Columns)
	r.tendish = map[string]bool{Tend: true}
	for _, v := range o.Variants {
		r.tools[v.Name] = initTool{v.Name, v.Path, []string{"--"}, []string{"--"}}
		r.columns = append(r.columns, v.Name)
		r.tendish[v.Name] = true
	}
	rep := &Report{Columns: r.columns, Start: time.Now(), Load: [2]string{load0}, Present: r.present, Versions: map[string]string{}}
	for _, name := range r.columns {
		path := name
		if t, ok := r.tools[name]; ok && (r.tendish[name] || name == GoFloor) {
			path = t.path
		}
		p, err := exec.LookPath(path)
		if name == GoFloor && (path == "" || err != nil) {
			r.logf("SKIP %s: no -gofloor binary (%q); its column stays empty", name, path)
			continue
		}
		if err != nil {
			r.logf("SKIP %s: not installed (%v); its column stays empty", name, err)
			continue
		}
		r.present[name] = true
		if t, ok := r.tools[name]; ok {
			t.path = p
			r.tools[name] = t
		}
		if name == GoFloor {
			rep.Versions[name] = "bench/cmd/gofloor"
			continue
		}
		rep.Versions[name] = version(p)
	}
	if !r.present[Tend] {
		return nil, fmt.Errorf("tend binary %q not found", o.Tend)
	}
	if _, err := exec.LookPath("unshare"); err != nil || !r.root {
		r.logf("SKIP namespace rows: they need root and unshare(1)")
		r.notes = append(r.notes, "Rows run in a PID namespace were skipped: not root or no unshare(1).")
		r.root = false
	}

	want := func(name string) bool { return len(o.Sections) == 0 || slices.Contains(o.Sections, name) }
	if want("startup") {
		r.logf("startup: %d runs per tool, round-robin", o.StartupRuns)
		rows, floor, err := r.startup()
		if err != nil {
			return nil, err
		}
		rep.Floor = floor
		rep.Rows = append(rep.Rows, rows...)
	}

	ns := []struct {
		key, name string
		f         func() ([]Row, error)
	}{
		{"idle", "idle (RSS, threads, wakeups)", r.idle},
		{"term", "SIGTERM -> exit", r.term},
		{"orphans", "orphans", r.orphans},
		{"shell", "shell-wrapper shutdown", r.shell},
		{"supervision", "supervision", r.supervision},
	}
	for _, s := range ns {
		if !want(s.key) {
			continue
		}
		if !r.root {
			rows, _ := s.f() // returns the rows' names only
			for i := range rows {
				rows[i].Val, rows[i].Text = nil, map[string]string{Tend: "skipped"}
			}
			rep.Rows = append(rep.Rows, rows...)
			continue
		}
		r.logf("%s", s.name)
		t0 := time.Now()
		rows, err := s.f()
		r.logf("%s: done in %.1fs", s.name, time.Since(t0).Seconds())
		if err != nil {
			return nil, fmt.Errorf("%s: %v", s.name, err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	if want("logs") {
		r.logf("log forwarding: %d lines, %d runs per tool and workload", o.LogLines, o.LogRuns)
		t0 := time.Now()
		rows, err := r.logs()
		if err != nil {
			return nil, fmt.Errorf("log forwarding: %v", err)
		}
		r.logf("log forwarding: done in %.1fs", time.Since(t0).Seconds())
		rep.Logs, rep.LogRuns = rows, o.LogRuns
	}
	rep.Notes = r.notes
	rep.End = time.Now()
	rep.Load[1] = loadavg()
	return rep, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func version(path string) string {
	for _, flag := range []string{"--version", "-V"} {
		out, err := exec.Command(path, flag).CombinedOutput()
		if err == nil {
			s := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
			return s
		}
	}
	return "?"
}

// inits lists the installed drop-in inits, tend first.
func (r *runner) inits() []initTool {
	var out []initTool
	for _, t := range r.withFloor() {
		if t.name != GoFloor {
			out = append(out, t)
		}
	}
	return out
}

// withFloor is inits with the Go floor, for the rows it can take part in
// (startup, idle): it only runs a child and waits.
func (r *runner) withFloor() []initTool {
	var out []initTool
	for _, n := range r.columns {
		if _, ok := r.tools[n]; ok && r.present[n] {
			out = append(out, r.tools[n])
		}
	}
	return out
}

// supervisors lists the installed supervisors: tend, supervisord, variants.
func (r *runner) supervisors() []string {
	var out []string
	for _, n := range r.columns {
		if r.present[n] && (r.tendish[n] || n == Supervisor) {
			out = append(out, n)
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ---- startup ----

func (r *runner) startup() ([]Row, [2]float64, error) {
	type cand struct {
		name string
		argv []string
	}
	cands := []cand{{"bare", []string{"/bin/true"}}}
	for _, t := range r.withFloor() {
		cands = append(cands, cand{t.name, t.argv(false, "/bin/true")})
	}
	samples := map[string][]float64{}
	fd := r.devnull.Fd()
	for i := -3; i < r.o.StartupRuns; i++ { // 3 warm-up rounds
		for j := range cands {
			c := cands[(i+3+j)%len(cands)] // rotate the order every round
			d, err := runDirect(c.argv, fd)
			if err != nil {
				return nil, [2]float64{}, fmt.Errorf("startup %s: %v", c.name, err)
			}
			if i >= 0 {
				samples[c.name] = append(samples[c.name], ms(d))
			}
		}
	}
	med := Row{Name: "startup `X -- /bin/true`, median", Unit: "ms", Ratio: true, Target: "≤ 1.2× go floor"}
	p90 := Row{Name: "startup `X -- /bin/true`, p90", Unit: "ms", Ratio: true}
	over := Row{Name: "startup over the /bin/true floor, median", Unit: "ms", Ratio: true}
	floor := median(samples["bare"])
	for name, s := range samples {
		if name == "bare" {
			continue
		}
		med.set(name, median(s))
		p90.set(name, pct(s, 90))
		over.set(name, median(s)-floor)
	}
	if f, ok := med.Val[GoFloor]; ok {
		med.Met = yes(med.Val[Tend] <= 1.2*f)
	}
	return []Row{med, p90, over}, [2]float64{floor, pct(samples["bare"], 90)}, nil
}

// ---- idle: RSS, threads and wakeups with one idle child / N services ----

func (r *runner) idle() ([]Row, error) {
	rss := Row{Name: "RSS, one idle child", Unit: "MiB", Ratio: true, Target: "≤ 2.5 MiB"}
	anon := Row{Name: "anonymous RSS (RssAnon), one idle child", Unit: "KiB", Ratio: true, Target: "≤ 1.25× go floor"}
	thr := Row{Name: "threads, one idle child", Unit: "", Ratio: true}
	wake := Row{Name: fmt.Sprintf("idle wakeups in %v, one child", r.o.Idle), Unit: "", Ratio: true, Target: "0"}
	rss20 := Row{Name: fmt.Sprintf("RSS, %d services", r.o.Services), Unit: "MiB", Ratio: true, Target: "≤ 8 MiB"}
	thr20 := Row{Name: fmt.Sprintf("threads, %d services", r.o.Services), Unit: "", Ratio: true}
	wake20 := Row{Name: fmt.Sprintf("idle wakeups in %v, %d services", r.o.Idle, r.o.Services), Unit: "", Ratio: true, Target: "0"}
	rows := []*Row{&rss, &anon, &thr, &wake, &rss20, &thr20, &wake20}
	if !r.root {
		return deref(rows), nil
	}
	type sample struct{ rss, anon, thr, wake []float64 }
	one, many := map[string]*sample{}, map[string]*sample{}
	for round := 0; round < r.o.Rounds; round++ {
		type running struct {
			name  string
			many  bool
			p     *nsProc
			ctxt0 int
		}
		var all []*running
		fail := func(err error) ([]Row, error) {
			for _, x := range all {
				x.p.kill()
			}
			return nil, err
		}
		// Every init idles at the same time: an idle process does not
		// disturb the others, and one window serves them all.
		for _, t := range r.withFloor() {
			p, err := startNS(t.argv(true, "/bin/sleep", "1000000"), nil)
			if err != nil {
				return fail(err)
			}
			all = append(all, &running{name: t.name, p: p})
			if err := waitChildren(p.pid, "sleep", 1, 10*time.Second); err != nil {
				return fail(fmt.Errorf("%s: %v", t.name, err))
			}
		}
		for _, name := range r.supervisors() {
			p, err := startNS(r.superArgv(name, r.sleepServices()), nil)
			if err != nil {
				return fail(err)
			}
			all = append(all, &running{name: name, many: true, p: p})
			if err := waitChildren(p.pid, "sleep", r.o.Services, 30*time.Second); err != nil {
				return fail(fmt.Errorf("%s: %v", name, err))
			}
		}
		time.Sleep(time.Second) // settle
		for _, x := range all {
			x.ctxt0, _ = ctxtSwitches(x.p.pid)
		}
		time.Sleep(r.o.Idle)
		for _, x := range all {
			c1, err := ctxtSwitches(x.p.pid)
			if err != nil {
				return fail(err)
			}
			kib, threads, err := procStatus(x.p.pid)
			if err != nil {
				return fail(err)
			}
			anonKiB, err := rssAnon(x.p.pid)
			if err != nil {
				return fail(err)
			}
			m := one
			if x.many {
				m = many
			}
			s := m[x.name]
			if s == nil {
				s = &sample{}
				m[x.name] = s
			}
			s.rss = append(s.rss, float64(kib)/1024)
			s.anon = append(s.anon, float64(anonKiB))
			s.thr = append(s.thr, float64(threads))
			s.wake = append(s.wake, float64(c1-x.ctxt0))
		}
		var wg sync.WaitGroup
		for _, x := range all {
			wg.Add(1)
			go func() { defer wg.Done(); x.p.kill() }()
		}
		wg.Wait()
	}
	for name, s := range one {
		rss.set(name, median(s.rss))
		anon.set(name, median(s.anon))
		thr.set(name, median(s.thr))
		wake.set(name, median(s.wake))
	}
	for name, s := range many {
		rss20.set(name, median(s.rss))
		thr20.set(name, median(s.thr))
		wake20.set(name, median(s.wake))
	}
	rss.Met = yes(rss.Val[Tend] <= 2.5)
	if f, ok := anon.Val[GoFloor]; ok {
		anon.Met = yes(anon.Val[Tend] <= 1.25*f)
	}
	rss20.Met = yes(rss20.Val[Tend] <= 8)
	wake.Met = yes(wake.Val[Tend] == 0)
	wake20.Met = yes(wake20.Val[Tend] == 0)
	return deref(rows), nil
}

// ---- SIGTERM -> exit, the child exiting at once ----

func (r *runner) term() ([]Row, error) {
	med := Row{Name: "SIGTERM → init exit (child exits at once), median", Unit: "ms", Ratio: true, Target: "≤ tini"}
	p90 := Row{Name: "SIGTERM → init exit, p90", Unit: "ms", Ratio: true}
	if !r.root {
		return []Row{med, p90}, nil
	}
	samples := map[string][]float64{}
	tools := r.inits()
	for i := 0; i < r.o.TermRuns; i++ {
		for j := range tools {
			t := tools[(i+j)%len(tools)]
			p, err := startNS(t.argv(true, "/bin/sleep", "1000000"), nil)
			if err != nil {
				return nil, err
			}
			if err := waitChildren(p.pid, "sleep", 1, 10*time.Second); err != nil {
				p.kill()
				return nil, fmt.Errorf("%s: %v", t.name, err)
			}
			time.Sleep(50 * time.Millisecond) // an init that has long started, as under docker stop
			t0 := time.Now()
			unix.Kill(p.pid, unix.SIGTERM)
			t1, err := p.waitExit(10 * time.Second)
			if err != nil {
				p.kill()
				return nil, fmt.Errorf("%s: %v", t.name, err)
			}
			p.wait()
			samples[t.name] = append(samples[t.name], ms(t1.Sub(t0)))
		}
	}
	for name, s := range samples {
		med.set(name, median(s))
		p90.set(name, pct(s, 90))
	}
	if t, ok := med.Val[Tini]; ok {
		med.Met = yes(med.Val[Tend] <= t)
	}
	return []Row{med, p90}, nil
}

// ---- orphans ----

func (r *runner) orphans() ([]Row, error) {
	wall := Row{Name: fmt.Sprintf("%d orphans created and reaped, wall, median", r.o.Orphans), Unit: "s", Ratio: true, Target: "≤ fastest peer"}
	zmax := Row{Name: "largest zombie count seen (orphans waiting for the init)", Unit: "", Ratio: true}
	left := Row{Name: "runs ending with every orphan reaped", Unit: ""}
	if !r.root {
		return []Row{wall, zmax, left}, nil
	}
	tp := r.o.Testprog
	// The main process creates the orphans, then waits (polling every 10ms)
	// until the namespace holds only itself and the init and no zombie.
	script := fmt.Sprintf("%s orphans --count %d && exec %s pscheck --settle 120s >/dev/null", tp, r.o.Orphans, tp)
	walls, zs, ok := map[string][]float64{}, map[string]float64{}, map[string]int{}
	tools := r.inits()
	for i := 0; i < r.o.OrphanRuns; i++ {
		for j := range tools {
			t := tools[(i+j)%len(tools)]
			t0 := time.Now()
			p, err := startNS(t.argv(true, "/bin/sh", "-c", script), nil)
			if err != nil {
				return nil, err
			}
			stop := make(chan struct{})
			maxz := make(chan int)
			go func() { // sample the init's zombie children until it exits
				m := 0
				for {
					select {
					case <-stop:
						maxz <- m
						return
					default:
					}
					z := 0
					for _, c := range children(p.pid) {
						if state(c) == 'Z' {
							z++
						}
					}
					m = max(m, z)
					time.Sleep(5 * time.Millisecond)
				}
			}()
			t1, err := p.waitExit(5 * time.Minute)
			close(stop)
			z := <-maxz
			if err != nil {
				p.kill()
				return nil, fmt.Errorf("%s: %v", t.name, err)
			}
			code := p.wait()
			walls[t.name] = append(walls[t.name], t1.Sub(t0).Seconds())
			zs[t.name] = max(zs[t.name], float64(z))
			if code == 0 {
				ok[t.name]++
			}
		}
	}
	for name, s := range walls {
		wall.set(name, median(s))
		zmax.set(name, zs[name])
		left.text(name, fmt.Sprintf("%d/%d", ok[name], r.o.OrphanRuns))
	}
	best := math.Inf(1)
	for name, v := range wall.Val {
		if name != Tend {
			best = min(best, v)
		}
	}
	wall.Met = yes(wall.Val[Tend] <= best && ok[Tend] == r.o.OrphanRuns)
	return []Row{wall, zmax, left}, nil
}

// ---- shell wrapper: sh -c 'app; echo', app needs ShellDelay to clean up ----

func (r *runner) shell() ([]Row, error) {
	exit := Row{Name: fmt.Sprintf("`sh -c 'app; echo'` SIGTERM → exit (app cleans up for %v), median", r.o.ShellDelay), Unit: "ms", Ratio: true}
	done := Row{Name: "shell wrapper: app's cleanup finished", Unit: "", Target: "all runs"}
	if !r.root {
		return []Row{exit, done}, nil
	}
	samples, fin := map[string][]float64{}, map[string]int{}
	tools := r.inits()
	for i := 0; i < r.o.ShellRuns; i++ {
		for j := range tools {
			t := tools[(i+j)%len(tools)]
			dir, err := os.MkdirTemp(r.tmp, "shell")
			if err != nil {
				return nil, err
			}
			out, ready := filepath.Join(dir, "done"), filepath.Join(dir, "ready")
			script := fmt.Sprintf("%s trapterm --file %s --delay %v --ready %s; echo", r.o.Testprog, out, r.o.ShellDelay, ready)
			p, err := startNS(t.argv(true, "/bin/sh", "-c", script), nil)
			if err != nil {
				return nil, err
			}
			if err := waitFile(ready, 10*time.Second); err != nil {
				p.kill()
				return nil, fmt.Errorf("%s: %v", t.name, err)
			}
			time.Sleep(50 * time.Millisecond)
			t0 := time.Now()
			unix.Kill(p.pid, unix.SIGTERM)
			t1, err := p.waitExit(r.o.ShellDelay + 30*time.Second)
			if err != nil {
				p.kill()
				return nil, fmt.Errorf("%s: %v", t.name, err)
			}
			p.wait()
			samples[t.name] = append(samples[t.name], ms(t1.Sub(t0)))
			if b, err := os.ReadFile(out); err == nil && strings.HasPrefix(string(b), "done") {
				fin[t.name]++
			}
		}
	}
	for name, s := range samples {
		exit.set(name, median(s))
		done.text(name, fmt.Sprintf("%d/%d", fin[name], r.o.ShellRuns))
	}
	done.Met = yes(fin[Tend] == r.o.ShellRuns)
	return []Row{exit, done}, nil
}

// ---- supervision: tend -c vs supervisord ----

type svc struct {
	name string
	argv []string
}

func (r *runner) sleepServices() []svc {
	var s []svc
	for i := 0; i < r.o.Services; i++ {
		s = append(s, svc{fmt.Sprintf("s%02d", i), []string{"/bin/sleep", "1000000"}})
	}
	return s
}

var confSeq int

// superArgv writes a config for name (tend or supervisord) running svcs,
// restarting at once when they exit, and returns the command line.
func (r *runner) superArgv(name string, svcs []svc) []string {
	confSeq++
	dir := filepath.Join(r.tmp, fmt.Sprintf("conf%d", confSeq))
	os.MkdirAll(dir, 0o755)
	var b strings.Builder
	if r.tendish[name] {
		for _, s := range svcs {
			q := make([]string, len(s.argv))
			for i, a := range s.argv {
				q[i] = strconv.Quote(a)
			}
			fmt.Fprintf(&b, "[service.%s]\ncommand = [%s]\nrestart = \"always\"\n", s.name, strings.Join(q, ", "))
			// Zero backoff: restart at once. Each run (50 ms) outlasts max,
			// so the backoff starts afresh every time and never ramps up
			// from its 10 ms floor; the limit is set out of reach.
			b.WriteString("backoff = { initial = \"0s\", max = \"10ms\" }\nmax_restarts = { count = 1000000, within = \"1s\" }\n\n")
		}
		conf := filepath.Join(dir, "tend.toml")
		os.WriteFile(conf, []byte(b.String()), 0o644)
		return []string{r.tools[name].path, "-c", conf}
	}
	fmt.Fprintf(&b, "[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s\nloglevel=warn\nuser=root\n\n", dir, dir, dir)
	for _, s := range svcs {
		fmt.Fprintf(&b, "[program:%s]\ncommand=%s\nautorestart=true\nstartsecs=0\nstartretries=1000000\nstdout_logfile=NONE\nstderr_logfile=NONE\n\n", s.name, strings.Join(s.argv, " "))
	}
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte(b.String()), 0o644)
	return []string{"supervisord", "-c", conf}
}

func (r *runner) supervision() ([]Row, error) {
	start := Row{Name: fmt.Sprintf("start %d services (until all %d PIDs exist), median", r.o.Services, r.o.Services), Unit: "ms", Ratio: true}
	rl := Row{Name: "restart after a crash, zero backoff (crash → new process starts), median", Unit: "ms", Ratio: true}
	rl90 := Row{Name: "restart after a crash, p90", Unit: "ms", Ratio: true}
	if !r.root {
		return []Row{start, rl, rl90}, nil
	}
	sups := r.supervisors()
	samples := map[string][]float64{}
	for i := 0; i < r.o.SuperRuns; i++ {
		for j := range sups {
			name := sups[(i+j)%len(sups)]
			argv := r.superArgv(name, r.sleepServices())
			t0 := time.Now()
			p, err := startNS(argv, nil)
			if err != nil {
				return nil, err
			}
			if err := waitChildren(p.pid, "sleep", r.o.Services, 30*time.Second); err != nil {
				p.kill()
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			samples[name] = append(samples[name], ms(time.Since(t0)))
			p.kill() // teardown is not measured
		}
	}
	for name, s := range samples {
		start.set(name, median(s))
	}
	for _, name := range sups {
		dir, err := os.MkdirTemp(r.tmp, "crash")
		if err != nil {
			return nil, err
		}
		stamps := filepath.Join(dir, "stamps")
		argv := append(slices.Clone(r.o.Stamp), "--file", stamps, "--run", r.o.CrashRun.String(), "--code", "1")
		p, err := startNS(r.superArgv(name, []svc{{"crash", argv}}), nil)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(time.Duration(r.o.Crashes+1) * (r.o.CrashRun + 2*time.Second))
		var lat []float64
		for {
			lat = crashLatencies(stamps)
			if len(lat) >= r.o.Crashes || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.kill() // teardown is not measured
		if len(lat) == 0 {
			return nil, fmt.Errorf("%s: the crashing service was never restarted", name)
		}
		rl.set(name, median(lat))
		rl90.set(name, pct(lat, 90))
	}
	return []Row{start, rl, rl90}, nil
}

// crashLatencies reads "s NS" (started) and "c NS" (crashing now) lines and
// returns, in ms, each crash's distance to the next start.
func crashLatencies(path string) []float64 {
	b, _ := os.ReadFile(path)
	var out []float64
	var crash int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "c":
			crash = n
		case "s":
			if crash != 0 {
				out = append(out, float64(n-crash)/1e6)
				crash = 0
			}
		}
	}
	return out
}

// ---- statistics ----

func median(s []float64) float64 { return pct(s, 50) }

// pct is the nearest-rank percentile (p50 of an even count is the mean of
// the two middle values).
func pct(s []float64, p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := slices.Clone(s)
	sort.Float64s(c)
	if p == 50 && len(c)%2 == 0 {
		return (c[len(c)/2-1] + c[len(c)/2]) / 2
	}
	i := int(math.Ceil(p/100*float64(len(c)))) - 1
	return c[max(0, min(i, len(c)-1))]
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func deref(rows []*Row) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = *r
	}
	return out
}
