package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statLine builds a realistic /proc/PID/stat line.
func statLine(pid int, comm string, state byte, ppid, pgid, sid int, start uint64) string {
	return fmt.Sprintf("%d (%s) %s %d %d %d 34816 %d 4194560 1234 0 0 0 5 3 0 0 20 0 1 0 %d 2490368 188 18446744073709551615 1 1 0 0 0 0 0 0 65536 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		pid, comm, []byte{state}, ppid, pgid, sid, pgid, start) // the state byte as is, not as a rune
}

// fakeProc points root at a fresh directory for the test.
func fakeProc(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old := root
	root = dir
	t.Cleanup(func() { root = old })
	return dir
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func addProc(t *testing.T, dir string, p Process) {
	t.Helper()
	writeFile(t, filepath.Join(dir, strconv.Itoa(p.PID), "stat"), statLine(p.PID, p.Comm, p.State, p.PPID, p.PGID, p.SID, p.StartTime))
}

func TestParseStat(t *testing.T) {
	for _, comm := range []string{"sh", "a) b", "x y", "", ")", "((", "()", ") S 1 2 3", "a\nb", "tab\there", "15charslongname"} {
		t.Run(strconv.Quote(comm), func(t *testing.T) {
			want := Process{PID: 42, PPID: 7, PGID: 42, SID: 3, State: 'S', Comm: comm, StartTime: 987654321}
			got, err := parseStat([]byte(statLine(42, comm, 'S', 7, 42, 3, 987654321)))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("parseStat = %+v; want %+v", got, want)
			}
		})
	}
}

func TestParseStatMalformed(t *testing.T) {
	for _, s := range []string{
		"",
		"\n",
		"42",
		"42 (sh",
		"42 sh) S 1 1 1",
		"x (sh) S 1 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5",
		"42 (sh) S 1 1 1", // truncated
		"42 (sh) SS 1 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5", // state not one byte
		"42 (sh) S x 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 5",
		"42 (sh) S 1 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 -5",
		"42 (sh) S 1 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 99999999999999999999999",
		")42 (",
	} {
		if p, err := parseStat([]byte(s)); err == nil {
			t.Errorf("parseStat(%q) = %+v; want error", s, p)
		}
	}
}

func TestRead(t *testing.T) {
	dir := fakeProc(t)
	want := Process{PID: 12, PPID: 1, PGID: 12, SID: 12, State: 'R', Comm: "a) b", StartTime: 100}
	addProc(t, dir, want)
	got, err := Read(12)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Read = %+v; want %+v", got, want)
	}

	// Missing process: no directory, or a directory without stat (the
	// process vanished between readdir and open).
	if err := os.Mkdir(filepath.Join(dir, "13"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{13, 99} {
		if _, err := Read(pid); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read(%d) error = %v; want fs.ErrNotExist", pid, err)
		}
	}
	// Empty stat: reaped between open and read.
	writeFile(t, filepath.Join(dir, "14", "stat"), "")
	if _, err := Read(14); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(14) error = %v; want fs.ErrNotExist", err)
	}
	// Garbage is an error, but not ErrNotExist.
	writeFile(t, filepath.Join(dir, "15", "stat"), "garbage")
	if _, err := Read(15); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(15) error = %v; want a parse error", err)
	}
}

func TestList(t *testing.T) {
	dir := fakeProc(t)
	procs := []Process{
		{PID: 1, PPID: 0, PGID: 1, SID: 1, State: 'S', Comm: "tend", StartTime: 1},
		{PID: 2, PPID: 1, PGID: 2, SID: 2, State: 'S', Comm: "x y", StartTime: 2},
		{PID: 10, PPID: 2, PGID: 2, SID: 2, State: 'Z', Comm: "a) b", StartTime: 3},
		{PID: 300, PPID: 1, PGID: 300, SID: 2, State: 'R', Comm: "", StartTime: 4},
	}
	for _, p := range procs {
		addProc(t, dir, p)
	}
	// Noise that is not a process, and a process that vanished.
	writeFile(t, filepath.Join(dir, "self", "stat"), statLine(1, "self", 'S', 0, 1, 1, 1))
	writeFile(t, filepath.Join(dir, "sys", "kernel", "x"), "")
	writeFile(t, filepath.Join(dir, "uptime"), "1.0 1.0\n")
	writeFile(t, filepath.Join(dir, "0123", "stat"), statLine(123, "zero", 'S', 0, 1, 1, 1))
	if err := os.Mkdir(filepath.Join(dir, "77"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "78", "stat"), "")

	got, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, procs) {
		t.Fatalf("List =\n%+v\nwant\n%+v", got, procs)
	}
	if n := Zombies(got); n != 1 {
		t.Errorf("Zombies = %d; want 1", n)
	}

	// Unreadable stat files (hidepid=1) are skipped; root bypasses modes.
	if os.Geteuid() != 0 {
		writeFile(t, filepath.Join(dir, "6", "stat"), statLine(6, "hidden", 'S', 1, 6, 6, 9))
		if err := os.Chmod(filepath.Join(dir, "6", "stat"), 0); err != nil {
			t.Fatal(err)
		}
		if got, err := List(); err != nil || !reflect.DeepEqual(got, procs) {
			t.Fatalf("List with unreadable stat = %+v, %v", got, err)
		}
	}

	// Other read errors are reported.
	if err := os.MkdirAll(filepath.Join(dir, "4", "stat"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := List(); err == nil {
		t.Error("List with a directory as stat: want error")
	}
	if err := os.RemoveAll(filepath.Join(dir, "4")); err != nil {
		t.Fatal(err)
	}

	// A malformed stat is reported, not skipped.
	writeFile(t, filepath.Join(dir, "5", "stat"), "5 (x) S")
	if _, err := List(); err == nil {
		t.Error("List with malformed stat: want error")
	}

	// No procfs at all.
	root = filepath.Join(dir, "nonexistent")
	if _, err := List(); err == nil {
		t.Error("List without /proc: want error")
	}
}

func TestDescendants(t *testing.T) {
	all := []Process{
		{PID: 1, PPID: 0},
		{PID: 2, PPID: 1},
		{PID: 3, PPID: 2},
		{PID: 4, PPID: 1},
		{PID: 5, PPID: 3},
		{PID: 6, PPID: 99}, // orphaned snapshot entry: parent not listed
		{PID: 7, PPID: 6},
		{PID: 8, PPID: 4},
		{PID: 20, PPID: 21}, // a cycle, which a racy snapshot could show
		{PID: 21, PPID: 20},
	}
	pids := func(ps []Process) []int {
		var out []int
		for _, p := range ps {
			out = append(out, p.PID)
		}
		return out
	}
	for _, tt := range []struct {
		root int
		want []int
	}{
		{1, []int{2, 4, 3, 8, 5}},
		{2, []int{3, 5}},
		{5, nil},
		{99, []int{6, 7}},
		{0, []int{1, 2, 4, 3, 8, 5}},
		{1000, nil},
		{20, []int{21}},
	} {
		got := pids(Descendants(all, tt.root))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Descendants(%d) = %v; want %v", tt.root, got, tt.want)
		}
		// Parent before child.
		pos := map[int]int{}
		for i, p := range got {
			pos[p] = i
		}
		for _, p := range all {
			if i, ok := pos[p.PID]; ok {
				if j, ok := pos[p.PPID]; ok && j > i {
					t.Errorf("Descendants(%d): %d listed before its parent %d", tt.root, p.PID, p.PPID)
				}
			}
		}
	}
	if got := Descendants(nil, 1); got != nil {
		t.Errorf("Descendants(nil) = %v", got)
	}
}

func TestCmdline(t *testing.T) {
	dir := fakeProc(t)
	long := strings.Repeat("x", 150) + " " + strings.Repeat("é", 40) // 151 + 80 bytes
	for i, tt := range []struct {
		name, cmdline string
		hasCmdline    bool
		comm          string // "" and !hasStat: no stat file
		hasStat       bool
		want          string
	}{
		{name: "args", cmdline: "sleep\x0060\x00", hasCmdline: true, want: "sleep 60"},
		{name: "padded", cmdline: "\x00 a\x00\x00b \x00\x00\x00", hasCmdline: true, want: "a  b"},
		{name: "setproctitle", cmdline: "nginx: worker process\x00\x00\x00\x00", hasCmdline: true, want: "nginx: worker process"},
		{name: "empty, kernel thread", cmdline: "", hasCmdline: true, comm: "kthreadd", hasStat: true, want: "[kthreadd]"},
		{name: "only NULs, zombie", cmdline: "\x00\x00", hasCmdline: true, comm: "a) b", hasStat: true, want: "[a) b]"},
		{name: "no cmdline file", comm: "sh", hasStat: true, want: "[sh]"},
		{name: "gone", want: ""},
		{name: "exactly max", cmdline: strings.Repeat("a", CmdlineMax), hasCmdline: true, want: strings.Repeat("a", CmdlineMax)},
		{name: "long ascii", cmdline: strings.Repeat("a", 5000) + "\x00", hasCmdline: true, want: strings.Repeat("a", CmdlineMax)},
		{name: "long utf8", cmdline: strings.ReplaceAll(long, " ", "\x00"), hasCmdline: true, want: strings.Repeat("x", 150) + " " + strings.Repeat("é", 24)},
	} {
		pid := 1000 + i
		t.Run(tt.name, func(t *testing.T) {
			d := filepath.Join(dir, strconv.Itoa(pid))
			if tt.hasCmdline {
				writeFile(t, filepath.Join(d, "cmdline"), tt.cmdline)
			}
			if tt.hasStat {
				writeFile(t, filepath.Join(d, "stat"), statLine(pid, tt.comm, 'Z', 1, 1, 1, 1))
			}
			got := Cmdline(pid)
			if got != tt.want {
				t.Fatalf("Cmdline = %q; want %q", got, tt.want)
			}
			if len(got) > CmdlineMax {
				t.Fatalf("Cmdline returned %d bytes", len(got))
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},                // é is 2 bytes: would be split
		{"aéb", 3, "aé"},              // fits exactly
		{"a€", 3, "a"},                // € is 3 bytes
		{"a€", 2, "a"},                //
		{"a😀", 4, "a"},                // 4-byte rune
		{"a\xff\xfe\xfd", 2, "a\xff"}, // invalid UTF-8: cut bytewise
		{"a\x80\x80\x80\x80", 3, "a\x80\x80"},
	} {
		if got := string(truncate([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestOwnNamespaceFake(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		name   string
		status string // "" = no status file
		link   string // "" = no self link
		want   bool
	}{
		{name: "own", status: "Name:\tx\nNSpid:\t" + me + "\nNSpgid:\t1\n", link: me, want: true},
		{name: "parent ns procfs", status: "Name:\tx\nNSpid:\t" + me + "\t1\n", link: me, want: false},
		{name: "host pid differs", status: "NSpid:\t4711\t" + me + "\n", link: "4711", want: false},
		{name: "old kernel, own", status: "Name:\tx\nPid:\t" + me + "\n", link: me, want: true},
		{name: "old kernel, other", status: "Name:\tx\n", link: "4711", want: false},
		{name: "no status, own", link: me, want: true},
		{name: "no status, other", link: "4711", want: false},
		{name: "no procfs", want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeProc(t)
			if tt.link != "" {
				// self points at a directory named by the pid, as in procfs.
				target := filepath.Join(dir, tt.link)
				if tt.status != "" {
					writeFile(t, filepath.Join(target, "status"), tt.status)
				}
				if err := os.Symlink(tt.link, filepath.Join(dir, "self")); err != nil {
					t.Fatal(err)
				}
			}
			if got := OwnNamespace(); got != tt.want {
				t.Fatalf("OwnNamespace = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestGone(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{unix.ENOENT, true},
		{unix.ESRCH, true},
		{&fs.PathError{Op: "open", Path: "x", Err: unix.ENOENT}, true},
		{unix.EACCES, false}, // see denied
		{unix.EIO, false},
	} {
		if got := gone(tt.err); got != tt.want {
			t.Errorf("gone(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
	for _, err := range []error{unix.EACCES, unix.EPERM, &fs.PathError{Op: "open", Path: "x", Err: unix.EACCES}} {
		if !denied(err) {
			t.Errorf("denied(%v) = false", err)
		}
	}
	if denied(unix.ENOENT) {
		t.Error("denied(ENOENT) = true")
	}
	if err := readErr("p", unix.ESRCH); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readErr(ESRCH) = %v; want fs.ErrNotExist", err)
	}
	if err := readErr("p", unix.EACCES); errors.Is(err, fs.ErrNotExist) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("readErr(EACCES) = %v", err)
	}
}

// TestReal exercises the real /proc with this process and a child it
// starts, kills and reaps itself by PID.
func TestReal(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// The state is the main thread's, which need not be the one reading.
	me, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if me.PID != os.Getpid() || me.PPID != os.Getppid() || me.State == 0 || me.State == 'Z' || me.StartTime == 0 {
		t.Fatalf("Read(self) = %+v", me)
	}
	if want := filepath.Base(os.Args[0]); !strings.HasPrefix(want, me.Comm) || me.Comm == "" {
		t.Errorf("Read(self).Comm = %q; want a prefix of %q", me.Comm, want)
	}
	if pg, _ := unix.Getpgid(0); me.PGID != pg {
		t.Errorf("PGID = %d; want %d", me.PGID, pg)
	}
	if sid, _ := unix.Getsid(0); me.SID != sid {
		t.Errorf("SID = %d; want %d", me.SID, sid)
	}

	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	// syscall.ForkExec rather than os/exec: the test owns the PID and reaps
	// it with wait4 itself, as tend's reaper does.
	pid, err := syscall.ForkExec(sleep, []string{"sleep", "60"}, &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	reaped := false
	defer func() {
		if !reaped {
			unix.Kill(pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
	}()

	// The child's comm becomes "sleep" during exec, and its command line
	// appears a little later (until then Cmdline shows "[sleep]").
	var child Process
	waitFor(t, "child exec", func() bool {
		child, err = Read(pid)
		return err == nil && child.Comm == "sleep" && Cmdline(pid) != "[sleep]"
	})
	if child.PPID != os.Getpid() || child.PGID != pid || child.SID != me.SID || child.StartTime < me.StartTime {
		t.Errorf("Read(child) = %+v (self %+v)", child, me)
	}
	if got := Cmdline(pid); got != "sleep 60" {
		t.Errorf("Cmdline(child) = %q", got)
	}
	if got, want := Cmdline(os.Getpid()), string(truncate([]byte(os.Args[0]), CmdlineMax)); !strings.HasPrefix(got, want) {
		t.Errorf("Cmdline(self) = %q; want prefix %q", got, want)
	}

	all, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if !containsPID(all, os.Getpid()) || !containsPID(all, pid) {
		t.Fatalf("List (%d processes) misses self %d or child %d", len(all), os.Getpid(), pid)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].PID >= all[i].PID {
			t.Fatalf("List not sorted at %d: %d, %d", i, all[i-1].PID, all[i].PID)
		}
	}
	if d := Descendants(all, os.Getpid()); !containsPID(d, pid) {
		t.Errorf("Descendants(self) = %+v; want child %d", d, pid)
	}

	// Kill: the child becomes a zombie until reaped.
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "zombie", func() bool {
		child, err = Read(pid)
		return err == nil && child.State == 'Z'
	})
	all, err = List()
	if err != nil {
		t.Fatal(err)
	}
	if Zombies(all) < 1 {
		t.Errorf("Zombies = 0 with zombie %d in the list", pid)
	}
	if got := Cmdline(pid); got != "[sleep]" {
		t.Errorf("Cmdline(zombie) = %q; want [sleep]", got)
	}

	var ws unix.WaitStatus
	if got, err := unix.Wait4(pid, &ws, 0, nil); got != pid || err != nil || ws.Signal() != unix.SIGKILL {
		t.Fatalf("wait4 = %d, %v, %v", got, err, ws)
	}
	reaped = true

	if _, err := Read(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(reaped) error = %v; want fs.ErrNotExist", err)
	}
	if got := Cmdline(pid); got != "" {
		t.Errorf("Cmdline(reaped) = %q; want \"\"", got)
	}
	if all, err = List(); err != nil || containsPID(all, pid) {
		t.Errorf("List after reap: err %v, contains %d: %v", err, pid, containsPID(all, pid))
	}
}

func TestOwnNamespaceReal(t *testing.T) {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		t.Skip("no /proc")
	}
	got := OwnNamespace()
	t.Logf("OwnNamespace() = %v (/proc/self -> %s, pid %d)", got, self, os.Getpid())
	if self != strconv.Itoa(os.Getpid()) && got {
		t.Fatal("OwnNamespace true although /proc/self is not us")
	}
}

func containsPID(ps []Process, pid int) bool {
	for _, p := range ps {
		if p.PID == pid {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkList(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		all, err := List()
		if err != nil {
			b.Fatal(err)
		}
		n = len(all)
	}
	b.ReportMetric(float64(n), "procs")
}

func BenchmarkRead(b *testing.B) {
	b.ReportAllocs()
	pid := os.Getpid()
	for b.Loop() {
		if _, err := Read(pid); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseStat: a line that parses has a state, and the process read
// from it, written back as the kernel writes a stat line, reads back the
// same: pid, comm (any bytes, parentheses included), state, ppid, pgid,
// sid and start time survive the round trip.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine(1, "a) b", 'S', 0, 1, 1, 5)))
	f.Add([]byte(statLine(-3, "(x\n)) (", 'Z', 7, -1, 0, 1<<63)))
	f.Add([]byte("42 (sh) S 1 1 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseStat(b)
		if err != nil {
			return
		}
		if p.State == 0 && !strings.Contains(string(b), "\x00") {
			t.Fatalf("parsed %q to %+v without a state", b, p)
		}
		line := statLine(p.PID, p.Comm, p.State, p.PPID, p.PGID, p.SID, p.StartTime)
		again, err := parseStat([]byte(line))
		if err != nil || again != p {
			t.Fatalf("%q parsed to %+v; written back as %q it reads %+v, %v", b, p, line, again, err)
		}
	})
}
