// Package readfile is the one way tend reads a file it is given: the
// configuration file, a Procfile, the .env beside it, an env_file, and
// /etc/passwd and /etc/group for a user.
//
// Only a regular file of at most a given size is read. Anything else is an
// error naming what the path is (a named pipe, a character device such as
// /dev/zero, a directory, a socket...) and what is accepted, rather than a
// read that blocks forever (a FIFO with no writer) or fills memory
// (/dev/zero, /dev/urandom). The file is opened with O_NONBLOCK, so that
// even a FIFO swapped in between the check and the open cannot block the
// open, and with O_NOCTTY, so that a terminal can never become tend's
// controlling terminal; its type and size are then checked on the open
// descriptor (fstat), and reading stops one byte past the limit, so a file
// growing while it is read is caught too.
//
// A read from a regular file can still block on a hung network or FUSE
// file system; callers on tend's event loop read in a goroutine with a
// deadline (see package supervise's reload).
package readfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Max is the size limit of the configuration files tend reads (config,
// Procfile, .env, env_file): 4 MiB, far above any real one.
const Max = 4 << 20

// Error is a path that is not a regular file within the size limit. Other
// failures (no such file, permission denied) are *fs.PathError as from
// package os, so errors.Is(err, fs.ErrNotExist) works.
type Error struct {
	Path string
	// Reason says what the file is and what is accepted, without the
	// path: "a named pipe (FIFO), not a regular file; accepted: a
	// regular file of at most 4 MiB".
	Reason string
}

func (e *Error) Error() string { return e.Path + ": " + e.Reason }

// Read returns the contents of the regular file at path, which must be at
// most limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	// Check first, before opening: opening a device can have side effects
	// (a tape rewinds, a modem line is raised). The check on the open
	// descriptor below is the one that counts.
	var st unix.Stat_t
	if err := statRetry(path, &st); err != nil {
		// Reported as what the caller asked for: opening the file.
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err := check(path, &st, limit); err != nil {
		return nil, err
	}
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := fstatRetry(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := check(path, &st, limit); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &Error{Path: path, Reason: "larger than " + Size(limit) + accepted(limit)}
	}
	return data, nil
}

func statRetry(path string, st *unix.Stat_t) error {
	for {
		if err := unix.Stat(path, st); err != unix.EINTR {
			return err
		}
	}
}

func fstatRetry(fd int, st *unix.Stat_t) error {
	for {
		if err := unix.Fstat(fd, st); err != unix.EINTR {
			return err
		}
	}
}

func check(path string, st *unix.Stat_t, limit int64) error {
	if what := kind(st.Mode); what != "" {
		return &Error{Path: path, Reason: what + ", not a regular file" + accepted(limit)}
	}
	if st.Size > limit {
		return &Error{Path: path, Reason: strconv.FormatInt(st.Size, 10) + " bytes, larger than " + Size(limit) + accepted(limit)}
	}
	return nil
}

func accepted(limit int64) string { return "; accepted: a regular file of at most " + Size(limit) }

// kind names a file type other than regular, or "" for a regular file.
func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFIFO:
		return "a named pipe (FIFO)"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return "an unknown kind of file"
}

// Size renders a limit: "4 MiB", "64 KiB", "100 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
