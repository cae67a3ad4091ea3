package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/tend-sh/tend/test/crinode"
)

// CRIOptions is the CRI lifecycle benchmark: a pod's full lifecycle through
// a private containerd 2.x (test/crinode), driven with crictl as the
// kubelet drives it, with plain runc, with the tend RuntimeClass
// (tend-runc) and with the NRI plugin (tend-nri).
type CRIOptions struct {
	Bins     string // scripts/cri-bins' directory
	Tend     string // the tend binary (mounted by tend-nri; tend-runc links to it)
	TendRunc string // a symlink named tend-runc to Tend
	TendNRI  string // the tend-nri binary
	Testprog string // static test/testprog
	Pause    string // static pause (test/cri/pause)
	Rounds   int    // measured rounds per column, interleaved
	Log      func(format string, a ...any)
}

// CRI column names.
const (
	CRIRunc         = "runc"
	CRIRuntimeClass = "RuntimeClass tend (tend-runc)"
	CRIRuncB        = "runc (NRI node, pod opted out)"
	CRINRI          = "runc + tend-nri"
)

// CRIColumns is the order of the CRI table's columns.
var CRIColumns = []string{CRIRunc, CRIRuntimeClass, CRIRuncB, CRINRI}

// RunCRI measures, per column, the CRI calls of one pod's life: RunPodSandbox,
// CreateContainer, StartContainer, StopContainer (timeout 30 s: the app
// exits on SIGTERM at once), RemovePodSandbox, each one crictl call (the
// same client cost in every column), and their sum. Between start and stop
// the round waits, untimed, for the app's readiness file (so a SIGTERM
// never arrives before the app handles it). Two nodes: plain runc and the
// RuntimeClass share one (handlers runc and tend); tend-nri is connected
// to the other, whose own baseline is a pod annotated tend.sh/inject=false
// (runc, with the plugin's round trip but no injection): each tend column
// is compared with the baseline of its own node, so a difference between
// the two daemons does not count. Columns are interleaved, the order rotated every round,
// after 3 warm-up rounds.
func RunCRI(o CRIOptions) (*OCIReport, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Rounds <= 0 {
		o.Rounds = 30
	}
	tmp, err := os.MkdirTemp("", "tendbench-cri")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	archives := []string{filepath.Join(tmp, "pause.tar"), filepath.Join(tmp, "app.tar")}
	if err := crinode.WriteImage(crinode.Image{Name: crinode.PauseImage, Files: []crinode.File{{Path: "/pod-pause", Src: o.Pause}}, Entrypoint: []string{"/pod-pause"}}, archives[0]); err != nil {
		return nil, err
	}
	if err := crinode.WriteImage(crinode.Image{Name: "docker.io/tend/bench:1", Files: []crinode.File{{Path: "/testprog", Src: o.Testprog}, {Path: "/tmp", Dir: true, Mode: 0o1777}}}, archives[1]); err != nil {
		return nil, err
	}
	ctx := context.Background()
	startNode := func(name, tendRunc string) (*crinode.Node, error) {
		n, err := crinode.Start(crinode.Options{Bins: o.Bins, Dir: filepath.Join(tmp, name), TendRunc: tendRunc}, 3*time.Minute)
		if err != nil {
			if n != nil {
				n.Stop()
			}
			return nil, err
		}
		for _, a := range archives {
			if err := n.Import(ctx, a); err != nil {
				n.Stop()
				return nil, err
			}
		}
		return n, nil
	}
	a, err := startNode("node-a", o.TendRunc)
	if err != nil {
		return nil, err
	}
	defer a.Stop()
	b, err := startNode("node-b", "")
	if err != nil {
		return nil, err
	}
	defer b.Stop()
	nri := exec.Command(o.TendNRI, "--socket", b.NRISock, "--tend", o.Tend)
	nriLog := filepath.Join(tmp, "tend-nri.log")
	lf, err := os.Create(nriLog)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	nri.Stdout, nri.Stderr = lf, lf
	nri.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := nri.Start(); err != nil {
		return nil, err
	}
	defer func() { nri.Process.Signal(syscall.SIGTERM); nri.Wait() }()
	for deadline := time.Now().Add(time.Minute); ; {
		if out, _ := os.ReadFile(nriLog); strings.Contains(string(out), "registered") {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(nriLog)
			return nil, fmt.Errorf("tend-nri did not register: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}

	type column struct {
		name    string
		node    *crinode.Node
		handler string
		ann     map[string]string
	}
	cols := []column{{CRIRunc, a, "", nil}, {CRIRuntimeClass, a, "tend", nil},
		{CRIRuncB, b, "", map[string]string{"tend.sh/inject": "false"}}, {CRINRI, b, "", nil}}
	steps := []string{"RunPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemovePodSandbox"}
	samples := map[string]map[string][]float64{} // step -> column -> ms
	for _, s := range append(steps, "total") {
		samples[s] = map[string][]float64{}
	}
	seq := 0
	lifecycle := func(c column) (map[string]time.Duration, error) {
		seq++
		out := filepath.Join(tmp, fmt.Sprintf("out%d", seq))
		if err := os.MkdirAll(out, 0o777); err != nil {
			return nil, err
		}
		os.Chmod(out, 0o777)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		d := map[string]time.Duration{}
		p := &crinode.Pod{Name: fmt.Sprintf("bench%d", seq), Handler: c.handler, Annotations: c.ann}
		t0 := time.Now()
		if err := c.node.Run(rctx, p); err != nil {
			return nil, err
		}
		d["RunPodSandbox"] = time.Since(t0)
		ct := &crinode.Container{Name: "app", Image: "docker.io/tend/bench:1", Mounts: map[string]string{"/out": out},
			Command: []string{"/testprog", "trapterm", "--file", "/tmp/done", "--delay", "0s", "--ready", "/out/ready"}}
		t0 = time.Now()
		if err := c.node.Create(rctx, p, ct); err != nil {
			return nil, err
		}
		d["CreateContainer"] = time.Since(t0)
		t0 = time.Now()
		if _, err := c.node.Crictl(rctx, "start", ct.ID); err != nil {
			return nil, err
		}
		d["StartContainer"] = time.Since(t0)
		for {
			if _, err := os.Stat(filepath.Join(out, "ready")); err == nil {
				break
			}
			if rctx.Err() != nil {
				return nil, fmt.Errorf("%s: the app never became ready", c.name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t0 = time.Now()
		if _, err := c.node.Crictl(rctx, "stop", "--timeout", "30", ct.ID); err != nil {
			return nil, err
		}
		d["StopContainer"] = time.Since(t0)
		t0 = time.Now()
		if err := c.node.Remove(rctx, p); err != nil {
			return nil, err
		}
		d["RemovePodSandbox"] = time.Since(t0)
		for _, s := range steps {
			d["total"] += d[s]
		}
		return d, nil
	}
	rep := &OCIReport{Start: time.Now(), Load: [2]string{loadavg()}, Runs: o.Rounds, Versions: map[string]string{}}
	rep.Versions[CRIRunc] = firstLine(filepath.Join(o.Bins, "containerd"), "--version") + "; " + firstLine("runc", "--version")
	for round := -3; round < o.Rounds; round++ {
		for k := range cols {
			c := cols[(k+round+3)%len(cols)]
			d, err := lifecycle(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			if round >= 0 {
				for s, v := range d {
					samples[s][c.name] = append(samples[s][c.name], ms(v))
				}
			}
		}
		if round >= 0 && (round+1)%10 == 0 {
			o.Log("cri: %d/%d rounds", round+1, o.Rounds)
		}
	}
	for _, s := range append([]string{"total"}, steps...) {
		name := s
		if s == "total" {
			name = "pod lifecycle: run, create, start, stop, remove"
		}
		row := Row{Name: name + ", median", Unit: "ms", Ratio: true}
		for _, c := range cols {
			row.set(c.name, median(samples[s][c.name]))
		}
		if s == "total" {
			row.Target, row.Met = criTarget(row)
		}
		rep.Rows = append(rep.Rows, row)
		o.Log("cri: %s: runc %.1f ms, RuntimeClass %.1f ms, runc (NRI node) %.1f ms, NRI %.1f ms", name, row.Val[CRIRunc], row.Val[CRIRuntimeClass], row.Val[CRIRuncB], row.Val[CRINRI])
	}
	rep.End = time.Now()
	rep.Load[1] = loadavg()
	return rep, nil
}

// criTarget is the lifecycle row's target and whether each path meets
// its own: NRI within 1.03× of its node's runc, the RuntimeClass within
// 1.10× of runc. One verdict for both hid that one was met.
func criTarget(r Row) (target, met string) {
	nri := yes(r.Val[CRINRI] <= 1.03*r.Val[CRIRuncB])
	rc := yes(r.Val[CRIRuntimeClass] <= 1.10*r.Val[CRIRunc])
	return "NRI ≤ 1.03×, RuntimeClass ≤ 1.10×", "NRI " + bold(nri) + ", RuntimeClass " + bold(rc)
}

// CRIBegin and CRIEnd delimit the generated CRI table in BENCHMARKS.md.
const (
	CRIBegin = "<!-- tendbench-cri:begin (generated by `make bench-compare`; do not edit by hand) -->"
	CRIEnd   = "<!-- tendbench-cri:end -->"
)

// CRIMarkdown renders the CRI table: medians and each column's ratio to
// plain runc.
func CRIMarkdown(rep *OCIReport, command string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s (%.0f s) on %s: %s, %d CPUs, kernel %s; %d rounds per column, interleaved, after 3 warm-up rounds; each step one crictl call against a private containerd (host-network pod, cgroupfs).\n",
		rep.Start.UTC().Format("2006-01-02 15:04 MST"), rep.End.Sub(rep.Start).Seconds(), host, cpuModel(), runtime.NumCPU(), kernel(), rep.Runs)
	fmt.Fprintf(&b, "Load average at start: %s; at end: %s. Runtime: `%s`. Command: `%s`.\n\n", rep.Load[0], rep.Load[1], rep.Versions[CRIRunc], command)
	fmt.Fprintf(&b, "| CRI call | %s | RuntimeClass ÷ runc | NRI ÷ its node's runc | target | met |\n", strings.Join(CRIColumns, " | "))
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	ratio := func(r Row, c string) string {
		base := CRIRunc
		if c == CRINRI {
			base = CRIRuncB
		}
		if r.Val[base] == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f×", r.Val[c]/r.Val[base])
	}
	for _, r := range rep.Rows {
		cells := []string{r.Name + " (" + r.Unit + ")"}
		for _, c := range CRIColumns {
			cells = append(cells, num(r.Val[c], r.Unit))
		}
		cells = append(cells, ratio(r, CRIRuntimeClass), ratio(r, CRINRI), r.Target, bold(r.Met))
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.String()
}

// UpdateCRIFile writes md between the CRI markers of path.
func UpdateCRIFile(path, md string) error {
	return updateBlock(path, CRIBegin, CRIEnd, "## Kubernetes: a pod's CRI lifecycle\n\n", md)
}
