package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// CleanEnv is os.Environ() without TEND_* plus extra.
func CleanEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEND_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TaskChildren lists the children of every thread of pid.
func TaskChildren(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// ReadLines returns the lines of path (none if it is missing or empty).
func ReadLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Q single-quotes s for sh.
func Q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Tail is the last n bytes of s, marked as cut when s is longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[... %d bytes cut ...]", len(s)-n) + s[len(s)-n:]
}

// TOMLStr quotes s as a TOML basic string (the test paths are ASCII).
func TOMLStr(s string) string { return strconv.Quote(s) }

// TOMLArgv renders argv as a TOML array of strings.
func TOMLArgv(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = TOMLStr(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// WriteFileAtomic writes content to path through a rename, so that tend
// never reads a half-written file (it may re-read it on SIGHUP at any time).
func WriteFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// WriteConfig writes dir/tend.toml (WriteFileAtomic) and returns its path.
func WriteConfig(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "tend.toml")
	WriteFileAtomic(t, path, content)
	return path
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
