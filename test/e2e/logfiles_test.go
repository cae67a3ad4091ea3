package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// logFileNumbers reads the "seq N" lines of the files, oldest first, and
// returns their numbers; it fails on a line that is not whole.
func logFileNumbers(t *testing.T, files []string) []int {
	t.Helper()
	var nums []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a whole line: ...%q", filepath.Base(f), cfgTail(string(b), 60))
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			// 2026-11-24T12:00:00.123Z gen | seq 00000001 xxxx...
			_, rest, ok := strings.Cut(l, "| seq ")
			if !ok {
				if strings.Contains(l, " ! ") {
					continue // the stderr lines
				}
				t.Fatalf("%s: a line not in the expected form: %q", filepath.Base(f), cfgTail(l, 120))
			}
			n, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatalf("%s: torn line %q", filepath.Base(f), cfgTail(l, 120))
			}
			nums = append(nums, n)
		}
	}
	return nums
}

// Scenario (issue 21, item 4): 5 MB of numbered lines through a 1 MB
// max_size and 3 max_files. At most 3 files, none over 1 MB by more than
// one line, the lines they hold consecutive up to the last one written,
// every line whole and timestamped; stderr lines marked; nothing of the
// service on tend's stdout (stdout = false).
func TestLogFileRotation(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	const (
		total   = 50000 // lines of lineLen bytes: 5 MB
		lineLen = 100
		maxSize = 1_000_000
	)
	pad := strings.Repeat("x", lineLen-len("seq 00000000 \n"))
	awk := fmt.Sprintf(`BEGIN { for (i = 1; i <= %d; i++) printf "seq %%08d %s\n", i; print "the end" > "/dev/stderr" }`, total, pad)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.gen]
command = %s
oneshot = true
log = { file = %s, max_size = "1MB", max_files = 3 }
`, tomlArgv("awk", awk), tomlStr(filepath.Join(logs, "gen.log"))))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg, "--socket", filepath.Join(dir, "s.sock"), "--", "true")
	r.ExpectExit(0)

	entries, err := os.ReadDir(logs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "gen.log gen.log.1 gen.log.2" {
		t.Fatalf("files %v, want gen.log gen.log.1 gen.log.2 (3 in all)\n%s", names, r.Diag())
	}
	files := []string{filepath.Join(logs, "gen.log.2"), filepath.Join(logs, "gen.log.1"), filepath.Join(logs, "gen.log")}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		// A line in the file: its timestamp, name and separator, then the
		// service's line.
		if max := int64(maxSize + lineLen + 64); fi.Size() > max {
			t.Errorf("%s: %d bytes, more than max_size by more than one line", filepath.Base(f), fi.Size())
		}
		if fi.Mode().Perm() != 0o640&^0o022 && fi.Mode().Perm()&0o137 != 0 {
			t.Errorf("%s: mode %v, want at most 0640", filepath.Base(f), fi.Mode().Perm())
		}
	}
	nums := logFileNumbers(t, files)
	if len(nums) == 0 || nums[len(nums)-1] != total {
		t.Fatalf("the files end with line %v, want %d", nums[max(len(nums)-1, 0):], total)
	}
	for i := 1; i < len(nums); i++ {
		if nums[i] != nums[i-1]+1 {
			t.Fatalf("line %d follows line %d: lines missing or out of order", nums[i], nums[i-1])
		}
	}
	// The two older files are full (within a line of max_size): the
	// newest three hold about 2-3 MB of the 5 MB.
	if kept := len(nums) * (lineLen + 27); kept < 2*maxSize {
		t.Errorf("only %d lines kept (%d bytes): rotated too early", len(nums), kept)
	}
	last, err := os.ReadFile(files[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(last), " ! the end\n") {
		t.Errorf("the stderr line is not in gen.log marked with ' ! ': ...%q", cfgTail(string(last), 200))
	}
	if strings.Contains(r.Stdout(), "seq ") {
		t.Errorf("the service's lines reached tend's stdout with stdout = false: %q", cfgTail(r.Stdout(), 200))
	}
}

// Scenario: logrotate renames the file and runs `tend logs --reopen`:
// tend writes on into a new file, and between the renamed one and the new
// one no line is missing.
func TestLogFileReopen(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	path := filepath.Join(dir, "tick.log")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.tick]
command = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done"]
log = { file = %s, max_size = 0, stdout = true }
`, tomlStr(path)))
	r := startIn(t, dir, opts{Timeout: 60 * time.Second}, "-c", cfg, "--socket", sock)
	r.Poll("ticks in the log file", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n") >= 5
	})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // lines go on into the renamed file
	if code, _, errs := tendCtl(t, sock, "logs", "--reopen"); code != 0 {
		t.Fatalf("tend logs --reopen: exit %d: %s", code, errs)
	}
	r.Poll("a new log file after --reopen", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Count(string(b), "\n") >= 5
	})
	r.Signal(unix.SIGTERM)
	r.ExpectExit(0)

	var nums []int
	for _, f := range []string{path + ".1", path} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			_, rest, ok := strings.Cut(l, " tick | tick ")
			n, err := strconv.Atoi(rest)
			if !ok || err != nil {
				t.Fatalf("%s: line %q", filepath.Base(f), l)
			}
			nums = append(nums, n)
		}
	}
	for i := 1; i < len(nums); i++ {
		if nums[i] != nums[i-1]+1 {
			t.Fatalf("tick %d follows tick %d across the reopen", nums[i], nums[i-1])
		}
	}
	// stdout = true: the same lines also reached tend's stdout.
	if !strings.Contains(r.Stdout(), "tick | tick 1\n") {
		t.Errorf("stdout = true, but tend's stdout lacks the lines: %q", cfgTail(r.Stdout(), 200))
	}
}

// Scenario: a log file that cannot be opened stops tend at the start with
// exit code 2, naming the service and the path; the service never runs.
func TestLogFileUnopenable(t *testing.T) {
	t.Parallel()
	needEnv(t)
	for _, tc := range []struct {
		name string
		prep func(dir string) string // returns the log file's path
		want string
	}{
		{"missing directory", func(dir string) string { return filepath.Join(dir, "nope", "web.log") }, "does not exist (tend creates no directories)"},
		{"symlink", func(dir string) string {
			p := filepath.Join(dir, "web.log")
			if err := os.Symlink(filepath.Join(dir, "elsewhere"), p); err != nil {
				t.Fatal(err)
			}
			return p
		}, "a symbolic link"},
		{"directory others may write", func(dir string) string {
			d := filepath.Join(dir, "open")
			if err := os.Mkdir(d, 0o777); err != nil {
				t.Fatal(err)
			}
			os.Chmod(d, 0o777)
			return filepath.Join(d, "web.log")
		}, "lets other users replace the log file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := tc.prep(dir)
			ran := filepath.Join(dir, "ran")
			cfg := writeConfig(t, dir, fmt.Sprintf(`
[service.web]
command = %s
log = { file = %s }
`, tomlArgv("touch", ran), tomlStr(path)))
			r := startIn(t, dir, opts{}, "-c", cfg, "--socket", filepath.Join(dir, "s.sock"))
			r.ExpectExit(2)
			errOut := r.Stderr()
			for _, want := range []string{"tend.toml:2: service.web.log.file: cannot open the log file " + path, tc.want} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			if _, err := os.Stat(ran); err == nil {
				t.Errorf("the service ran although its log file could not be opened")
			}
		})
	}
}
