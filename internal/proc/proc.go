// Package proc reads what /proc says about processes: enough for shutdown
// sweeps (who is left, who is a zombie), for log lines and for tests.
//
// Everything is a snapshot; processes come and go while it is taken. A
// process that vanishes mid-read is reported as fs.ErrNotExist by Read and
// silently left out by List.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// root is where procfs is mounted; tests point it at a fake tree.
var root = "/proc"

// Process is one line of /proc/PID/stat, reduced to what tend needs.
type Process struct {
	PID, PPID, PGID, SID int
	// State is the one-letter state: R, S, D, Z, T, t, X, I, ...
	State byte
	// Comm is the kernel's command name (at most 15 bytes for a live
	// process, but any bytes: spaces, parentheses, even newlines).
	Comm string
	// StartTime is the start time in clock ticks since boot. Together
	// with PID it identifies a process across PID reuse.
	StartTime uint64
}

// CmdlineMax caps what Cmdline returns, in bytes.
const CmdlineMax = 200

// statMax bounds a stat read; the real line is a few hundred bytes.
const statMax = 64 << 10

// Read returns /proc/PID/stat for pid. If the process does not exist (or
// vanished while being read) the error satisfies errors.Is(err,
// fs.ErrNotExist).
func Read(pid int) (Process, error) {
	buf := make([]byte, 0, 512)
	path := root + "/" + strconv.Itoa(pid) + "/stat"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Process{}, readErr(path, err)
	}
	b, err := readFd(fd, buf, statMax)
	unix.Close(fd)
	if err == nil && len(b) == 0 {
		err = unix.ESRCH // a task reaped between open and read
	}
	if err != nil {
		return Process{}, readErr(path, err)
	}
	p, err := parseStat(b)
	if err != nil {
		return Process{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// List returns every process visible in /proc, sorted by PID. Processes
// that vanish while the list is taken are left out without error, and so
// are those whose stat we may not read (hidepid=1: we could not signal
// them either). A stat that does not parse is an error.
//
// It costs one open+read+close of /proc/PID/stat per process, into one
// reused buffer.
func List() ([]Process, error) {
	out := make([]Process, 0, 64)
	_, err := walk(time.Time{}, func(b []byte, rel string) error {
		p, err := parseStat(b)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", root, rel, err)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Process) int { return a.PID - b.PID })
	return out, nil
}

// walk calls f with the contents of /proc/PID/stat of every process, in
// the order of the directory, rel being "PID/stat"; the bytes are valid
// only during the call. Processes that vanish or whose stat we may not
// read are left out, as List says. With a non-zero deadline it stops once
// the deadline has passed and returns false (the walk is incomplete).
func walk(deadline time.Time, f func(b []byte, rel string) error) (complete bool, err error) {
	d, err := os.Open(root)
	if err != nil {
		return false, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false, err
	}
	dirfd := int(d.Fd())
	buf := make([]byte, 0, 1024)
	for i, name := range names {
		if !isPID(name) {
			continue
		}
		// The clock is read every 64 entries: a read costs far less.
		if !deadline.IsZero() && i%64 == 63 && time.Now().After(deadline) {
			return false, nil
		}
		rel := name + "/stat"
		fd, err := unix.Openat(dirfd, rel, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if gone(err) || denied(err) {
				continue
			}
			return false, readErr(root+"/"+rel, err)
		}
		buf, err = readFd(fd, buf[:0], statMax)
		unix.Close(fd)
		if err != nil {
			if gone(err) || denied(err) {
				continue
			}
			return false, readErr(root+"/"+rel, err)
		}
		if len(buf) == 0 {
			continue // reaped between open and read
		}
		if err := f(buf, rel); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Descendants returns the transitive descendants of root in all (root
// itself excluded), each parent before its children, breadth first and
// otherwise in the order of all. A PPID cycle, which a racy snapshot could
// in principle contain, cannot make it loop.
func Descendants(all []Process, root int) []Process {
	children := make(map[int][]int, len(all)) // PPID -> indexes into all
	for i, p := range all {
		children[p.PPID] = append(children[p.PPID], i)
	}
	seen := map[int]bool{root: true}
	var out []Process
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, i := range children[pid] {
			p := all[i]
			if seen[p.PID] {
				continue
			}
			seen[p.PID] = true
			out = append(out, p)
			queue = append(queue, p.PID)
		}
	}
	return out
}

// Zombies counts the processes in state Z.
func Zombies(all []Process) int {
	n := 0
	for _, p := range all {
		if p.State == 'Z' {
			n++
		}
	}
	return n
}

// Cmdline returns pid's command line for logs: arguments joined by spaces,
// trimmed, cut to at most CmdlineMax bytes (never inside a UTF-8 sequence).
// Other bytes are returned as they are; quote the result when logging. A
// process without a command line (a kernel thread or a zombie) is shown as
// "[comm]", like ps does. It returns "" if the process is gone.
func Cmdline(pid int) string {
	path := root + "/" + strconv.Itoa(pid) + "/cmdline"
	var b []byte
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		// One page is plenty: only CmdlineMax bytes survive, and the
		// rest may be long leading blanks at worst.
		b, err = readFd(fd, make([]byte, 0, 4096), 4096)
		unix.Close(fd)
	}
	if err == nil {
		for i, c := range b {
			if c == 0 {
				b[i] = ' '
			}
		}
		b = bytes.TrimSpace(b)
		if len(b) > 0 {
			return string(truncate(b, CmdlineMax))
		}
	}
	p, err := Read(pid)
	if err != nil {
		return ""
	}
	return "[" + p.Comm + "]"
}

// truncate cuts b to at most n bytes without splitting a UTF-8 sequence
// that would otherwise have been complete.
func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	cut := n
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(b[cut]); i++ {
		cut--
	}
	if r, size := utf8.DecodeRune(b[cut:]); r == utf8.RuneError || cut+size <= n {
		cut = n // not valid UTF-8 there, or the rune fits: cut bytewise
	}
	return b[:cut]
}

// OwnNamespace reports whether /proc belongs to our PID namespace. It is
// false when /proc is not mounted, and when PID 1 of a new namespace sees a
// parent namespace's /proc (then PIDs read there are not ours to signal).
//
// The kernel prints NSpid in /proc/self/status from the namespace of the
// procfs mount down to the caller's own; a single entry equal to getpid()
// means they are the same. Kernels without NSpid (before 4.1) fall back to
// /proc/self resolving to getpid().
func OwnNamespace() bool {
	pid := strconv.Itoa(os.Getpid())
	if status, err := os.ReadFile(root + "/self/status"); err == nil {
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(rest)
				return len(f) == 1 && f[0] == pid
			}
		}
	}
	self, err := os.Readlink(root + "/self")
	return err == nil && self == pid
}

// parseStat parses the first fields of a /proc/PID/stat line:
//
//	pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
//	majflt cmajflt utime stime cutime cstime priority nice num_threads
//	itrealvalue starttime vsize rss ...
//
// comm can contain anything, including ") ", so it ends at the last ')'.
func parseStat(b []byte) (Process, error) {
	var f statFields
	return parseFields(b, &f, minFields)
}

// The fields after "(comm)", counted from 0 (state).
const (
	fUTime     = 11
	fSTime     = 12
	fCUTime    = 13
	fCSTime    = 14
	fStartTime = 19
	fRSS       = 21
	minFields  = fStartTime + 1 // what a Process needs
	allFields  = fRSS + 1       // what a Stat needs
)

// statFields holds the fields after "(comm)" as slices of the line.
type statFields [allFields][]byte

// parseFields parses the line into a Process, splitting at least need of
// the fields after "(comm)" into f (up to allFields).
func parseFields(b []byte, f *statFields, need int) (Process, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return Process{}, errors.New("malformed stat: no (comm)")
	}
	var p Process
	var ok bool
	if p.PID, ok = atoi(bytes.TrimSpace(b[:open])); !ok {
		return Process{}, errors.New("malformed stat: bad pid")
	}
	p.Comm = string(b[open+1 : closing])

	rest := b[closing+1:]
	n := 0
	for n < need {
		rest = bytes.TrimLeft(rest, " \n")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		f[n], rest = rest[:end], rest[end:]
		n++
	}
	if n < need || len(f[0]) != 1 {
		return Process{}, errors.New("malformed stat: too few fields")
	}
	p.State = f[0][0]
	var ok1, ok2, ok3 bool
	p.PPID, ok1 = atoi(f[1])
	p.PGID, ok2 = atoi(f[2])
	p.SID, ok3 = atoi(f[3])
	start, err := strconv.ParseUint(string(f[fStartTime]), 10, 64)
	if !ok1 || !ok2 || !ok3 || err != nil {
		return Process{}, errors.New("malformed stat: bad number")
	}
	p.StartTime = start
	return p, nil
}

// atoi parses a decimal int from bytes without allocating.
func atoi(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func isPID(name string) bool {
	if name == "" || name[0] == '0' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// readFd reads fd to EOF, appending to buf and growing it as needed, but
// to no more than limit bytes in all.
func readFd(fd int, buf []byte, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf)+512, limit-len(buf)))
		}
		n, err := unix.Read(fd, buf[len(buf):min(cap(buf), limit)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// gone reports whether err means the process no longer exists: its /proc
// directory is gone (ENOENT) or it was reaped after open (ESRCH).
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// denied reports a permission error, as procfs mounted with hidepid=1
// gives an unprivileged caller for other users' processes.
func denied(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// readErr wraps a read failure; a vanished process maps to fs.ErrNotExist.
func readErr(path string, err error) error {
	if gone(err) {
		return fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return &fs.PathError{Op: "read", Path: path, Err: err}
}
