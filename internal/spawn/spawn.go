// Package spawn starts one process the way tend needs it: resolved like a
// shell resolves a command, in its own session (or as the terminal's
// foreground process group), optionally as another user. It never waits:
// the reap package owns every wait.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exit codes for a command that could not be started, as a shell uses them.
const (
	CodeOther         = 125 // could not start for another reason
	CodeNotExecutable = 126
	CodeNotFound      = 127
)

// DefaultPath is used for the command lookup when PATH is unset.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec describes one process to start.
type Spec struct {
	Argv []string
	Env  []string // full environment of the child
	Dir  string   // working directory; "" = tend's
	// Cred, when set, is the identity the child runs as.
	Cred *syscall.Credential
	// Files are the child's fds 0, 1, 2, ... (as in os.ProcAttr).
	Files []uintptr
	// Foreground makes the child a new process group that becomes the
	// foreground group of the terminal on fd 0 (tend's controlling
	// terminal). Otherwise the child starts a new session.
	Foreground bool
	// SameGroup keeps the child in tend's session and process group
	// (dumb-init's single-child mode); Foreground is then ignored.
	SameGroup bool
	// TakeTerminal: the child's new session takes the terminal on its fd
	// 0 as its controlling terminal (TIOCSCTTY), as dumb-init's child
	// does once dumb-init let go of it (TIOCNOTTY). Only without
	// Foreground and SameGroup.
	TakeTerminal bool
	// ClearMask starts the child with no signal blocked. Otherwise it gets
	// the signal mask of the forking thread: the one tend inherited, minus
	// the signals the Go runtime unblocks for itself.
	ClearMask bool
	// CgroupFD, when > 0, is an open cgroup v2 directory the child starts
	// in (clone3 CLONE_INTO_CGROUP: in it from its first instruction, so
	// its limits apply to everything it does). 0 = tend's own cgroup.
	CgroupFD int
}

// Error is a failure to start a command. Code is the exit code tend uses.
type Error struct {
	Name string
	Err  error
	Code int
}

func (e *Error) Error() string {
	switch e.Code {
	case CodeNotFound:
		return fmt.Sprintf("cannot start %q: command not found", e.Name)
	case CodeNotExecutable:
		return fmt.Sprintf("cannot start %q: permission denied (not executable)", e.Name)
	}
	return fmt.Sprintf("cannot start %q: %v", e.Name, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Lookup resolves name as a POSIX shell does: a name containing "/" is used
// as it is; otherwise each directory of path is tried in order. A file
// found but not executable makes the result 126 unless an executable one
// comes later.
func Lookup(name, path string) (string, error) {
	if name == "" {
		return "", &Error{Name: name, Err: unix.ENOENT, Code: CodeNotFound}
	}
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", startError(name, err)
		}
		return name, nil
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		err := executable(p)
		if err == nil {
			return p, nil
		}
		if denied == nil && errors.Is(err, unix.EACCES) {
			denied = err
		}
	}
	if denied != nil {
		return "", &Error{Name: name, Err: denied, Code: CodeNotExecutable}
	}
	return "", &Error{Name: name, Err: unix.ENOENT, Code: CodeNotFound}
}

func executable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EACCES
	}
	return unix.Access(p, unix.X_OK)
}

func startError(name string, err error) *Error {
	code := CodeOther
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		code = CodeNotFound
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EPERM):
		code = CodeNotExecutable
	}
	return &Error{Name: name, Err: err, Code: code}
}

// Start starts the process and returns its PID. It does not wait for it.
func Start(s *Spec) (int, error) {
	if len(s.Argv) == 0 {
		return 0, &Error{Err: errors.New("empty command"), Code: CodeOther}
	}
	path := DefaultPath
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	bin, err := Lookup(s.Argv[0], path)
	if err != nil {
		return 0, err
	}
	attr := &syscall.ProcAttr{
		Dir:   s.Dir,
		Env:   s.Env,
		Files: s.Files,
		Sys:   &syscall.SysProcAttr{Credential: s.Cred},
	}
	if s.CgroupFD > 0 {
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, s.CgroupFD
	}
	switch {
	case s.SameGroup:
	case s.Foreground:
		attr.Sys.Setpgid = true
		attr.Sys.Foreground = true
		attr.Sys.Ctty = 0
	default:
		attr.Sys.Setsid = true
		if s.TakeTerminal {
			attr.Sys.Setctty = true
			attr.Sys.Ctty = 0
		}
	}
	pid, err := forkExec(bin, s.Argv, attr, s.ClearMask)
	if err != nil && attr.Sys.Setctty {
		// The terminal could not be taken (TIOCSCTTY): start without it,
		// as dumb-init's child does (it only notes the failure).
		attr.Sys.Setctty = false
		pid, err = forkExec(bin, s.Argv, attr, s.ClearMask)
	}
	if err != nil {
		if s.Dir != "" && errors.Is(err, unix.ENOENT) {
			if _, serr := os.Stat(s.Dir); serr != nil {
				return 0, &Error{Name: s.Argv[0], Err: fmt.Errorf("working directory: %w", serr), Code: CodeOther}
			}
		}
		return 0, startError(s.Argv[0], err)
	}
	return pid, nil
}

// forkExec is syscall.ForkExec, from a thread with an empty signal mask
// when clearMask is set: the runtime gives the child the forking thread's
// mask (it saves it before the fork and restores it in the child).
func forkExec(bin string, argv []string, attr *syscall.ProcAttr, clearMask bool) (int, error) {
	if !clearMask {
		return syscall.ForkExec(bin, argv, attr)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var empty, old unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &empty, &old); err != nil {
		return syscall.ForkExec(bin, argv, attr)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return syscall.ForkExec(bin, argv, attr)
}

// ControllingTerminal reports whether fd is a terminal that is tend's
// controlling terminal, so a child can be made its foreground group.
func ControllingTerminal(fd int) bool {
	_, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil
}
