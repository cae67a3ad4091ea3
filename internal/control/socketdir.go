package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/trust"
)

// trustDir checks that only root and uid can change what dir (an absolute,
// clean path) and every directory above it hold: each component exists
// owned by root or uid, and a directory is not writable by group or others
// unless it has the sticky bit (like /tmp, where nobody can rename or
// remove another user's entries). Symbolic links on the way are allowed
// when they are owned by root or uid; the directories they lead to are
// checked the same way. Components that do not exist yet are reported in
// missing (the first one), and the check stops there.
//
// The socket's own directory may instead be reported in fix: owned by root
// or uid but writable by others without the sticky bit (a Kubernetes
// emptyDir is 0777), which its owner can make safe by adding the sticky
// bit (see fixDir); err is then nil.
func trustDir(dir string, uid uint32) (missing, fix string, err error) {
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		real = "" // checked below, component by component
	} else if err != nil {
		return "", "", err
	}
	for _, p := range trust.Prefixes(dir) {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, "", nil
		}
		if err != nil {
			return "", "", err
		}
		if err := trust.Dir(p, fi, uid, "the socket"); err != nil {
			if me, ok := err.(*trust.ModeError); ok && p == dir && real == dir {
				fix = me.Path
				continue
			}
			return "", "", err
		}
	}
	if real != "" && real != dir {
		for _, p := range trust.Prefixes(real) {
			fi, err := os.Lstat(p)
			if err != nil {
				return "", "", err
			}
			if err := trust.Dir(p, fi, uid, "the socket"); err != nil {
				if me, ok := err.(*trust.ModeError); ok && p == real {
					fix = me.Path
					continue
				}
				return "", "", fmt.Errorf("%w (reached through %s)", err, dir)
			}
		}
	}
	return "", fix, nil
}

// fixDir adds the sticky bit to dir, a directory owned by root or uid that
// group or others may write to: they may still create entries, but no
// longer rename or remove the socket. It works on an fd opened without
// following a link, and checks the owner on that fd.
func fixDir(dir string, uid uint32) (note string, err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", &os.PathError{Op: "fstat", Path: dir, Err: err}
	}
	if st.Uid != 0 && st.Uid != uid {
		return "", fmt.Errorf("refusing directory %s: it is owned by uid %d", dir, st.Uid)
	}
	mode := st.Mode & 0o7777
	if mode&0o022 == 0 || mode&unix.S_ISVTX != 0 {
		return "", nil
	}
	if err := unix.Fchmod(fd, mode|unix.S_ISVTX); err != nil {
		return "", fmt.Errorf("directory %s: mode %04o lets other users replace the socket, and adding the sticky bit failed: %w", dir, mode, err)
	}
	return fmt.Sprintf("directory %s was mode %04o (other users could replace the socket); tend added the sticky bit (now %04o)", dir, mode, mode|unix.S_ISVTX), nil
}
