package listen

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/spawn"
)

// TrampolineArg is the hidden first argument that makes tend's binary a
// trampoline: `tend TrampolineArg /resolved/bin argv0 args…` sets
// LISTEN_PID to its own pid and execs /resolved/bin with argv0 args….
const TrampolineArg = "tend:listen-exec"

// SelfExe is what the child execs as the trampoline: the running binary,
// even when its file was replaced or removed since tend started (the
// kernel resolves the link to the open executable). The service's user
// needs execute permission on tend's binary.
const SelfExe = "/proc/self/exe"

// Pass prepares spec to hand set's sockets to the child: they become its
// fds 3, 4, … (spec.Files must hold exactly fds 0-2), LISTEN_FDS and
// LISTEN_FDNAMES are set (inherited LISTEN_PID, LISTEN_FDS and
// LISTEN_FDNAMES dropped), and the
// command goes through the trampoline at self (SelfExe unless testing),
// which sets LISTEN_PID. The command is resolved here, so a missing
// program is still the 127 that spawn.Start reports.
func Pass(spec *spawn.Spec, set *Set, self string) error {
	if set == nil || len(set.Files) == 0 {
		return nil
	}
	if len(spec.Files) != 3 {
		return fmt.Errorf("listen: spec has %d files, want fds 0-2 only", len(spec.Files))
	}
	env := make([]string, 0, len(spec.Env)+2)
	for _, kv := range spec.Env {
		if k, _, _ := strings.Cut(kv, "="); k == "LISTEN_PID" || k == "LISTEN_FDS" || k == "LISTEN_FDNAMES" {
			continue
		}
		env = append(env, kv)
	}
	files := append([]uintptr(nil), spec.Files...)
	for _, f := range set.Files {
		files = append(files, f.Fd())
	}
	env = append(env,
		"LISTEN_FDS="+strconv.Itoa(len(set.Files)),
		"LISTEN_FDNAMES="+strings.Join(set.Names, ":"))
	old := spec.Env
	spec.Env = env
	if err := Trampoline(spec, self); err != nil {
		spec.Env = old
		return err
	}
	spec.Files = files
	return nil
}

// Trampoline makes spec start through the trampoline at self, which sets
// LISTEN_PID (when LISTEN_FDS is in spec.Env) and WATCHDOG_PID (when
// WATCHDOG_USEC is) to the child's own pid; inherited LISTEN_PID and
// WATCHDOG_PID are dropped. The command is resolved here (PATH from
// spec.Env), so a missing program is still the 127 that spawn.Start
// reports.
func Trampoline(spec *spawn.Spec, self string) error {
	if len(spec.Argv) == 0 {
		return &spawn.Error{Err: fmt.Errorf("empty command"), Code: spawn.CodeOther}
	}
	path := spawn.DefaultPath
	env := make([]string, 0, len(spec.Env))
	for _, kv := range spec.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
		if k, _, _ := strings.Cut(kv, "="); k == "LISTEN_PID" || k == "WATCHDOG_PID" {
			continue
		}
		env = append(env, kv)
	}
	bin, err := spawn.Lookup(spec.Argv[0], path)
	if err != nil {
		return err
	}
	spec.Env = env
	spec.Argv = append([]string{self, TrampolineArg, bin}, spec.Argv...)
	return nil
}

// RunTrampoline returns at once unless args (os.Args) make this process
// the trampoline; then it sets LISTEN_PID=getpid() (when LISTEN_FDS is
// set) and WATCHDOG_PID=getpid() (when WATCHDOG_USEC is) and execs the target,
// never returning (exit 127 with a message if the exec fails). Call it
// first thing in main.
func RunTrampoline(args []string) {
	if len(args) < 4 || args[1] != TrampolineArg {
		return
	}
	env := os.Environ()
	pid := strconv.Itoa(os.Getpid())
	if _, ok := os.LookupEnv("LISTEN_FDS"); ok {
		env = append(env, "LISTEN_PID="+pid)
	}
	if _, ok := os.LookupEnv("WATCHDOG_USEC"); ok {
		env = append(env, "WATCHDOG_PID="+pid)
	}
	err := unix.Exec(args[2], args[3:], env)
	fmt.Fprintf(os.Stderr, "tend: cannot start %q: %v\n", args[3], err)
	code := spawn.CodeNotFound
	if err == unix.EACCES || err == unix.ENOEXEC || err == unix.EPERM {
		code = spawn.CodeNotExecutable
	}
	os.Exit(code)
}
