package signals

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTable: what the supervisor asks, per signal.
func TestTable(t *testing.T) {
	for _, tt := range []struct {
		sig                                syscall.Signal
		catch                              Catch
		forward, shutdown, reload, jobStop bool
	}{
		{unix.SIGTERM, StopChannel, true, true, false, false},
		{unix.SIGINT, StopChannel, true, true, false, false},
		{unix.SIGHUP, Early, true, false, true, false},
		{unix.SIGUSR1, Early, true, false, false, false},
		{unix.SIGQUIT, Early, true, false, false, false},
		{unix.SIGWINCH, Early, true, false, false, false},
		{unix.SIGTSTP, Early, true, false, false, true},
		{unix.SIGTTIN, Early, true, false, false, true},
		{unix.SIGTTOU, Early, true, false, false, true},
		{unix.SIGCONT, Late, true, false, false, false},
		{unix.SIGALRM, Late, true, false, false, false},
		{unix.Signal(64), Late, true, false, false, false},
		// Caught (a broken stdout must not kill tend), never forwarded.
		{unix.SIGPIPE, Early, false, false, false, false},
		// Registered, but the runtime's profiler takes every one.
		{unix.SIGPROF, Late, false, false, false, false},
		{unix.SIGKILL, Never, false, false, false, false},
		{unix.SIGSTOP, Never, false, false, false, false},
		{unix.SIGCHLD, Never, false, false, false, false},
		{unix.SIGURG, Never, false, false, false, false},
		{32, Never, false, false, false, false},
		{34, Never, false, false, false, false},
		{0, Never, false, false, false, false},
		{65, Never, false, false, false, false},
	} {
		d := Of(tt.sig)
		if d.Signal != tt.sig || d.Catch != tt.catch || d.Forward != tt.forward || d.Shutdown != tt.shutdown || d.Reload != tt.reload || d.JobStop != tt.jobStop {
			t.Errorf("Of(%s) = %+v, want catch %v forward %v shutdown %v reload %v jobstop %v", Name(tt.sig), d, tt.catch, tt.forward, tt.shutdown, tt.reload, tt.jobStop)
		}
		if Forwardable(tt.sig) != tt.forward || IsShutdown(tt.sig) != tt.shutdown {
			t.Errorf("%s: Forwardable %v IsShutdown %v, want %v %v", Name(tt.sig), Forwardable(tt.sig), IsShutdown(tt.sig), tt.forward, tt.shutdown)
		}
		if tt.sig >= 1 && tt.sig <= Max && d.Why == "" {
			t.Errorf("%s: no reason given", Name(tt.sig))
		}
	}
	if n := len(Table()); n != Max {
		t.Errorf("Table() has %d rows, want %d", n, Max)
	}
}

// TestParsePairCatchable: a rewrite names a signal tend catches; one it
// catches but does not forward is accepted (dumb-init's -r may name any
// signal 1-31), one it never catches is refused.
func TestParsePairCatchable(t *testing.T) {
	for in, ok := range map[string]bool{
		"TERM:QUIT": true, "PIPE:0": true, "PROF:TERM": true, "HUP:0": true, "64:1": true,
		"KILL:TERM": false, "STOP:0": false, "CHLD:TERM": false, "URG:0": false, "32:0": false, "34:1": false,
	} {
		_, _, err := ParsePair(in)
		if (err == nil) != ok {
			t.Errorf("ParsePair(%q) error = %v, want accepted %v", in, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "is never forwarded, so it cannot be rewritten") {
			t.Errorf("ParsePair(%q) error = %q, want it to say why", in, err)
		}
	}
}

// TestDocRendersTable: the package documentation's list of signals is the
// table, rendered.
func TestDocRendersTable(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "//\t"); ok && strings.Contains(rest, ": ") {
			doc.WriteString(rest + "\n")
		}
	}
	if got, want := doc.String(), Render(); got != want {
		t.Errorf("doc.go's list of signals is not the table; paste Render()'s:\n%s", want)
	}
}

// TestReadmeNeverForwarded: the README's "A signal arrives." names exactly
// the signals the table never forwards.
func TestReadmeNeverForwarded(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	_, after, ok := strings.Cut(doc, "**A signal arrives.** Every signal except ")
	list, _, ok2 := strings.Cut(after, " is forwarded")
	if !ok || !ok2 {
		t.Fatal(`README: "**A signal arrives.** Every signal except ... is forwarded" not found`)
	}
	// Drop the parenthesised reasons (they name other signals).
	var bare strings.Builder
	depth := 0
	for _, r := range list {
		switch {
		case r == '(':
			depth++
		case r == ')':
			depth--
		case depth == 0:
			bare.WriteRune(r)
		}
	}
	var listed []syscall.Signal
	for _, name := range regexp.MustCompile(`SIG[A-Z0-9]+`).FindAllString(bare.String(), -1) {
		sig, err := Parse(name, false)
		if err != nil {
			t.Fatalf("README names %s: %v", name, err)
		}
		listed = append(listed, sig)
	}
	if m := regexp.MustCompile(`signals (\d+) and (\d+)`).FindStringSubmatch(bare.String()); m != nil {
		for _, n := range m[1:] {
			i, _ := strconv.Atoi(n)
			listed = append(listed, syscall.Signal(i))
		}
	}
	var never []syscall.Signal
	for _, d := range Table() {
		if !d.Forward {
			never = append(never, d.Signal)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, never) {
		t.Errorf("README never forwards %v, the table %v", names(listed), names(never))
	}
}

func names(sigs []syscall.Signal) []string {
	out := make([]string, len(sigs))
	for i, s := range sigs {
		out[i] = Name(s)
	}
	return out
}

// TestCaughtAndStops: the lists the supervisor registers come from the
// table: every signal tend catches is in exactly one of early, late and
// Stops, and Stops are the signals that start the shutdown.
func TestCaughtAndStops(t *testing.T) {
	early, late := Caught()
	stops := Stops()
	if want := []os.Signal{unix.SIGINT, unix.SIGTERM}; !slices.Equal(stops, want) {
		t.Errorf("Stops() = %v, want %v", stops, want)
	}
	seen := map[os.Signal]int{}
	for _, l := range [][]os.Signal{early, late, stops} {
		for _, sig := range l {
			seen[sig]++
		}
	}
	for _, d := range Table() {
		want := 1
		if d.Catch == Never {
			want = 0
		}
		if seen[d.Signal] != want {
			t.Errorf("%s (%v) is in %d of early, late and Stops, want %d", Name(d.Signal), d.Catch, seen[d.Signal], want)
		}
		if slices.Contains(stops, os.Signal(d.Signal)) != d.Shutdown {
			t.Errorf("%s: in Stops %v, starts the shutdown %v", Name(d.Signal), slices.Contains(stops, os.Signal(d.Signal)), d.Shutdown)
		}
	}
}
