package harness

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	if got := Tail("abc", 3); got != "abc" {
		t.Errorf("Tail(abc, 3) = %q", got)
	}
	if got := Tail("abcdef", 2); got != "[... 4 bytes cut ...]ef" {
		t.Errorf("Tail(abcdef, 2) = %q", got)
	}
}

func TestDiagOutput(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{
		{"", 0, "--- stdout:\n"},
		{"a\n", 0, "--- stdout:\na\n"},
		{"a", 0, "--- stdout:\na\n"},
		{"abcdef\n", 3, "--- stdout (tail):\n[... 4 bytes cut ...]ef\n"},
	}
	for _, c := range cases {
		var b strings.Builder
		diagOutput(&b, "stdout", c.s, c.n)
		if b.String() != c.want {
			t.Errorf("diagOutput(%q, %d) = %q, want %q", c.s, c.n, b.String(), c.want)
		}
	}
}

func TestTOMLArgv(t *testing.T) {
	if got, want := TOMLArgv("/bin/sh", "-c", `echo "hi"`), `["/bin/sh", "-c", "echo \"hi\""]`; got != want {
		t.Errorf("TOMLArgv = %s, want %s", got, want)
	}
}

func TestQ(t *testing.T) {
	s := `it's a "test" $HOME`
	out, err := exec.Command("sh", "-c", "printf %s "+Q(s)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != s {
		t.Errorf("sh saw %q, want %q", out, s)
	}
}

func TestReadLinesAndWriteConfig(t *testing.T) {
	dir := t.TempDir()
	if got := ReadLines(filepath.Join(dir, "missing")); got != nil {
		t.Errorf("ReadLines(missing) = %q", got)
	}
	path := WriteConfig(t, dir, "a\nb\n\n")
	if path != filepath.Join(dir, "tend.toml") {
		t.Errorf("WriteConfig wrote %s", path)
	}
	if got := ReadLines(path); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("ReadLines = %q", got)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("TEND_HARNESS_TEST", "1")
	for _, kv := range CleanEnv([]string{"X=1"}) {
		if strings.HasPrefix(kv, "TEND_") {
			t.Errorf("CleanEnv kept %s", kv)
		}
	}
	if env := CleanEnv([]string{"X=1"}); env[len(env)-1] != "X=1" {
		t.Errorf("CleanEnv dropped the extra variable: %q", env)
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "internal", "harness", "harness.go")); err != nil {
		t.Errorf("moduleRoot = %s: %v", root, err)
	}
}

func TestParseStatus(t *testing.T) {
	s, err := ParseStatus(`{"shutting_down":true,"services":[{"name":"a","state":"running","pid":7,"restarts":2,"last_exit":null},` +
		`{"name":"j","state":"scheduled","pid":0,"last_exit":3,"job":{"schedule":"@every 1s","runs":{"success":4},"skipped":1}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	m := s.ByName()
	a, j := m["a"], m["j"]
	if !s.ShuttingDown || len(m) != 2 || a.State != "running" || a.PID != 7 || a.Restarts != 2 || a.LastExit != nil || a.Job != nil {
		t.Errorf("ParseStatus: %+v", s)
	}
	if j.LastExit == nil || *j.LastExit != 3 || j.Job == nil || j.Job.Schedule != "@every 1s" || j.Job.Runs["success"] != 4 || j.Job.Skipped != 1 {
		t.Errorf("ParseStatus: job %+v (%+v)", j, j.Job)
	}
	if _, err := ParseStatus("not json"); err == nil {
		t.Error("ParseStatus accepted garbage")
	}
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d from FreePort is not free: %v", p, err)
	}
	ln.Close()
}

// CheckBackoff accepts the doubling and the resets the records allow, and
// rejects restarts that come too early.
func TestCheckBackoff(t *testing.T) {
	ms := func(gaps ...int) []time.Time {
		ts := []time.Time{time.Unix(1000, 0)}
		for _, g := range gaps {
			ts = append(ts, ts[len(ts)-1].Add(time.Duration(g)*time.Millisecond))
		}
		return ts
	}
	cases := []struct {
		name    string
		gaps    []int
		failing bool
		ok      bool
	}{
		{"doubling to the cap", []int{100, 200, 400, 800, 1000}, true, true},
		{"jitter", []int{81, 161, 321, 641, 791}, true, true},
		{"slow run 2 restarts the doubling (seen at load ~35)", []int{2107, 817, 175, 392, 687}, true, true},
		{"no backoff", []int{5, 5, 5, 5, 5}, true, false},
		{"no doubling", []int{100, 100, 100, 100, 100}, true, false},
		{"reset after short runs", []int{100, 200, 400, 800, 100}, true, false},
		{"exit 0: initial each time", []int{100, 100, 100, 100, 100}, false, true},
		{"exit 0: too early", []int{100, 30, 100, 100, 100}, false, false},
	}
	for _, c := range cases {
		errs := CheckBackoff(ms(c.gaps...), c.failing, 100*time.Millisecond, time.Second)
		if (len(errs) == 0) != c.ok {
			t.Errorf("%s: gaps %v: errors %q, want ok=%v", c.name, c.gaps, errs, c.ok)
		}
	}
}

// StateOnCancel records the process's /proc state when the context's end
// kills it, and nothing when it finished by itself.
func TestStateOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sleep", "30")
	state := StateOnCancel(cmd)
	if err := cmd.Run(); err == nil {
		t.Fatal("sleep 30 was not killed")
	}
	if s := state(); !strings.Contains(s, "/stat: ") || !strings.Contains(s, "(sleep) S") || !strings.Contains(s, "SigBlk:") {
		t.Errorf("state of the killed sleep: %q", s)
	}
	cmd = exec.CommandContext(context.Background(), "true")
	state = StateOnCancel(cmd)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "" {
		t.Errorf("state of a command that finished: %q", s)
	}
}

func TestSigkillPending(t *testing.T) {
	for _, c := range []struct {
		status string
		want   bool
	}{
		{"Name:\ttestprog\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000100\n", true},
		{"SigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n", true},
		{"SigPnd:\t0000000000004000\nShdPnd:\t0000000000000000\n", false}, // SIGTERM
		{"SigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n", false},
	} {
		if got := sigkillPending(c.status); got != c.want {
			t.Errorf("sigkillPending(%q) = %v, want %v", c.status, got, c.want)
		}
	}
}
