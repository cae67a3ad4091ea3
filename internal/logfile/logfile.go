// Package logfile writes a service's log lines to a file that is rotated
// by size, as supervisord's stdout_logfile does, and reopened on request
// for an external logrotate.
//
// Guarantees:
//
//   - Write is given whole lines (every "\n"-terminated; a final piece
//     without "\n" is treated as one line) and never splits one across two
//     files: a file is rotated before the line that would take it past
//     MaxSize. A file therefore never exceeds MaxSize, except one holding a
//     single line longer than MaxSize on its own.
//   - Rotation renames PATH to PATH.1, PATH.1 to PATH.2, ... keeping
//     MaxFiles files in all (PATH included); the oldest is replaced by the
//     rename (never unlinked first, so no moment lacks it). MaxFiles = 1
//     removes PATH and starts it afresh. Files beyond MaxFiles left by an
//     earlier configuration are not touched.
//   - A failed write (a full disk, an I/O error), a failed rotation or a
//     failed reopen is reported once through Options.Report, counted
//     (per Write call that met an error) in [WriteErrors], and never
//     retried in a loop: Write returns at once and the lines of that call
//     that could not be written are lost for the file (a line the disk
//     filled in the middle of is cut off again: the file holds whole lines
//     only). After a Write that
//     meets no error, the next failure is reported again. When rotation
//     fails, writing goes on into the current file (past MaxSize) rather
//     than lose lines.
//   - Files are opened O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW|O_CLOEXEC|
//     O_NONBLOCK|O_NOCTTY, created mode 0640 (less the umask), and checked on
//     the open descriptor: a regular file, owned by tend's effective uid,
//     with one link. Open also checks that only root and tend's uid can
//     change the directory that holds the file and every one above it
//     (owned by root or tend's uid, not writable by group or others unless
//     sticky like /tmp); directories are never created.
//
// A Writer is safe for concurrent use; writes are serialised by its mutex.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/trust"
)

// Mode is the mode files are created with (less the umask).
const Mode = 0o640

// Options configure a Writer.
type Options struct {
	// MaxSize is the size at which the file is rotated; 0 never rotates
	// (an external logrotate then calls Reopen).
	MaxSize int64
	// MaxFiles is the number of files kept in all, the current one
	// included (at least 1). Unused when MaxSize is 0.
	MaxFiles int
	// Report is called, outside the Writer's lock, once when writing
	// starts failing (see the package documentation); nil reports nothing.
	Report func(path string, err error)
}

// writeErrors counts the Write calls of every Writer that met an error.
var writeErrors atomic.Uint64

// opened reports whether any Writer was ever opened (for /metrics).
var opened atomic.Bool

// WriteErrors returns how many Write calls, over every Writer, met an
// error (tend_log_write_errors_total).
func WriteErrors() uint64 { return writeErrors.Load() }

// InUse reports whether any Writer was ever opened in this process.
func InUse() bool { return opened.Load() }

// Writer writes lines to one file, rotating it by size.
type Writer struct {
	path string

	mu      sync.Mutex
	opts    Options
	f       file // nil after a failed reopen or rotation: reopened by the next Write
	size    int64
	failing bool // a failure has been reported and no Write has succeeded since
	retired bool // no longer in its Set: closed after each Write, never reopened
}

// file is what a Writer writes to: an *os.File (a fake in tests).
type file interface {
	Write(p []byte) (int, error)
	Close() error
}

// Open checks path's directories, opens (or creates) the file and returns
// a Writer appending to it. path must be absolute.
func Open(path string, o Options) (*Writer, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%s: not an absolute path", path)
	}
	path = filepath.Clean(path)
	if err := checkDir(filepath.Dir(path), uint32(os.Geteuid())); err != nil {
		return nil, err
	}
	w := &Writer{path: path}
	w.setOptions(o)
	if err := w.open(); err != nil {
		return nil, err
	}
	opened.Store(true)
	return w, nil
}

// Check reports whether Open would accept path, without creating or
// opening anything (for "tend check"): its directories are checked as
// Open checks them and, if the file exists, it must be a regular file
// (not a symbolic link) owned by tend's effective uid with one link.
func Check(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: not an absolute path", path)
	}
	path = filepath.Clean(path)
	euid := uint32(os.Geteuid())
	if err := checkDir(filepath.Dir(path), euid); err != nil {
		return err
	}
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil // created at the start
	case err != nil:
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("%s: a symbolic link; accepted: a regular file (links are not followed)", path)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%s: %s; accepted: a regular file", path, kind(st.Mode))
	case st.Uid != euid:
		return fmt.Errorf("%s: owned by uid %d; accepted: a file owned by tend's uid %d (or none: tend creates it)", path, st.Uid, euid)
	case st.Nlink != 1:
		return fmt.Errorf("%s: has %d hard links; accepted: a file with one link", path, st.Nlink)
	}
	return nil
}

func (w *Writer) setOptions(o Options) {
	if o.MaxFiles < 1 {
		o.MaxFiles = 1
	}
	if o.MaxSize < 0 {
		o.MaxSize = 0
	}
	w.opts = o
}

// SetOptions changes the rotation settings (a reload); they apply from the
// next Write.
func (w *Writer) SetOptions(o Options) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setOptions(o)
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// open opens w.path for appending; w.mu is held (or w is not shared yet).
func (w *Writer) open() error {
	f, size, err := openFile(w.path)
	if err != nil {
		return err
	}
	w.f, w.size = f, size
	return nil
}

func openFile(path string) (*os.File, int64, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, Mode)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, 0, fmt.Errorf("%s: a symbolic link; accepted: a regular file (links are not followed)", path)
		}
		if errors.Is(err, unix.ENXIO) {
			return nil, 0, fmt.Errorf("%s: a named pipe (FIFO) or socket; accepted: a regular file", path)
		}
		return nil, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, 0, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		unix.Close(fd)
		return nil, 0, fmt.Errorf("%s: %s; accepted: a regular file", path, kind(st.Mode))
	case st.Uid != euid:
		unix.Close(fd)
		return nil, 0, fmt.Errorf("%s: owned by uid %d; accepted: a file owned by tend's uid %d (or none: tend creates it)", path, st.Uid, euid)
	case st.Nlink != 1:
		unix.Close(fd)
		return nil, 0, fmt.Errorf("%s: has %d hard links; accepted: a file with one link", path, st.Nlink)
	}
	// A regular file does not block; clear O_NONBLOCK anyway so that a
	// write is never cut short by EAGAIN.
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFIFO:
		return "a named pipe (FIFO)"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return "not a regular file"
}

// Write writes p, whole lines, rotating the file before a line that would
// take it past MaxSize. It returns len(p) and nil when every byte was
// written, else how much was and the first error (reported and counted).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	n, err := w.write(p)
	if w.retired && w.f != nil {
		// A batch that was under way when a reload moved the service's
		// lines elsewhere: written, and the descriptor not kept.
		w.f.Close()
		w.f = nil
	}
	report := false
	if err != nil {
		writeErrors.Add(1)
		report = !w.failing
		w.failing = true
	} else {
		w.failing = false
	}
	rep := w.opts.Report
	w.mu.Unlock()
	if report && rep != nil {
		rep(w.path, err)
	}
	return n, err
}

func (w *Writer) write(p []byte) (int, error) {
	var first error
	done := 0
	for len(p) > 0 {
		if w.f == nil {
			if err := w.open(); err != nil {
				return done, errors.Join(first, err)
			}
		}
		chunk := p
		if max := w.opts.MaxSize; max > 0 && w.size+int64(len(p)) > max {
			room := max - w.size
			n := 0
			if room > 0 {
				n = bytes.LastIndexByte(p[:room], '\n') + 1
			}
			if n == 0 && w.size > 0 && first == nil {
				if err := w.rotate(); err != nil {
					// Keep writing into the current file (reopened if the
					// rotation lost it) rather than lose lines.
					first = err
				}
				continue
			}
			if n == 0 {
				// An empty file (or one rotation already failed): one
				// line, whole, whatever its size.
				if n = bytes.IndexByte(p, '\n') + 1; n == 0 {
					n = len(p)
				}
				if first != nil {
					n = len(p)
				}
			}
			chunk = p[:n]
		}
		m, err := w.f.Write(chunk)
		if err != nil {
			m = w.untear(chunk, m)
		}
		w.size += int64(m)
		done += m
		if err != nil {
			return done, errors.Join(first, fmt.Errorf("%s: write: %w", w.path, unwrap(err)))
		}
		p = p[len(chunk):]
	}
	return done, first
}

// untear removes from the end of the file the start of a line that a
// failed write of chunk left there after its m bytes (a disk that filled
// mid-line), so that the file never holds a torn line and the next line
// written after space is freed starts a line of its own. It returns the
// bytes of chunk that stay written: its whole lines.
func (w *Writer) untear(chunk []byte, m int) int {
	whole := bytes.LastIndexByte(chunk[:m], '\n') + 1
	if whole == m {
		return m
	}
	f, ok := w.f.(interface {
		Stat() (fs.FileInfo, error)
		Truncate(size int64) error
	})
	if !ok {
		return m
	}
	fi, err := f.Stat()
	if torn := int64(m - whole); err != nil || fi.Size() < torn || f.Truncate(fi.Size()-torn) != nil {
		return m
	}
	return whole
}

// unwrap turns *os.PathError into its errno for shorter messages.
func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// name is the path of the i-th file: PATH for 0, PATH.i after.
func (w *Writer) name(i int) string {
	if i == 0 {
		return w.path
	}
	return w.path + "." + strconv.Itoa(i)
}

// rotate shifts the files and opens a new PATH. w.mu is held.
func (w *Writer) rotate() error {
	var errs []error
	if w.opts.MaxFiles <= 1 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("rotate: %w", err))
		}
	} else {
		for i := w.opts.MaxFiles - 1; i >= 1; i-- {
			if err := os.Rename(w.name(i-1), w.name(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("rotate: %w", err))
				if i == 1 {
					// PATH itself could not be moved: keep appending to it.
					return errors.Join(errs...)
				}
			}
		}
	}
	old := w.f
	w.f = nil
	if err := w.open(); err != nil {
		// Keep the old descriptor rather than none.
		w.f = old
		return errors.Join(append(errs, err)...)
	}
	old.Close()
	return errors.Join(errs...)
}

// Reopen closes the file and opens PATH again: after an external tool
// renamed it, a new file is created. The failure is reported as a write
// failure is; Write retries the open.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	err := w.open()
	report := false
	if err != nil {
		writeErrors.Add(1)
		report = !w.failing
		w.failing = true
	}
	rep := w.opts.Report
	w.mu.Unlock()
	if report && rep != nil {
		rep(w.path, err)
	}
	return err
}

// Close closes the file; a later Write opens it again.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// checkDir checks that only root and uid can change dir (an absolute,
// clean path) and every directory above it; symbolic links on the way are
// followed and their targets checked the same way.
func checkDir(dir string, uid uint32) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("directory %s does not exist (tend creates no directories)", pe.Path)
		}
		return fmt.Errorf("directory %s: %w", dir, unwrap(err))
	}
	return trust.Tree(dir, real, uid, "the log file")
}

// Set holds one Writer per path, so that services naming the same file
// share it, and reopens them all.
type Set struct {
	mu      sync.Mutex
	writers map[string]*Writer
	kept    []string // the paths of the last Keep
	report  atomic.Pointer[func(path string, err error)]
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{writers: map[string]*Writer{}} }

// SetReport sets the function failures are reported to (for Writers
// opened before and after).
func (s *Set) SetReport(f func(path string, err error)) { s.report.Store(&f) }

func (s *Set) doReport(path string, err error) {
	if f := s.report.Load(); f != nil && *f != nil {
		(*f)(path, err)
	}
}

// Open returns the Set's Writer for path, opening it the first time; a
// path already open gets o's rotation settings.
func (s *Set) Open(path string, o Options) (*Writer, error) {
	o.Report = s.doReport
	s.mu.Lock()
	defer s.mu.Unlock()
	key := filepath.Clean(path)
	if w := s.writers[key]; w != nil {
		w.SetOptions(o)
		return w, nil
	}
	w, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	s.writers[key] = w
	return w, nil
}

// Keep retires the Set's Writers whose path is not in paths (a reload
// that changed or removed a service's log file): their files are closed,
// no longer reopened by Reopen, and a batch of lines still under way to
// one is written and its file closed again.
func (s *Set) Keep(paths []string) {
	keep := map[string]bool{}
	for _, p := range paths {
		keep[filepath.Clean(p)] = true
	}
	s.mu.Lock()
	s.kept = append([]string(nil), paths...)
	var gone []*Writer
	for key, w := range s.writers {
		if !keep[key] {
			gone = append(gone, w)
			delete(s.writers, key)
		}
	}
	s.mu.Unlock()
	for _, w := range gone {
		w.mu.Lock()
		w.retired = true
		if w.f != nil {
			w.f.Close()
			w.f = nil
		}
		w.mu.Unlock()
	}
}

// Revert retires the Writers opened since the last Keep (a reload whose
// configuration was rejected after some of its files were opened).
func (s *Set) Revert() {
	s.mu.Lock()
	kept := s.kept
	s.mu.Unlock()
	s.Keep(kept)
}

// Reopen reopens every file of the Set, returning the errors joined.
func (s *Set) Reopen() error {
	s.mu.Lock()
	ws := make([]*Writer, 0, len(s.writers))
	for _, w := range s.writers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range ws {
		if err := w.Reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Len returns how many files the Set holds.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writers)
}

// Close closes every file.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.writers {
		w.Close()
	}
}
