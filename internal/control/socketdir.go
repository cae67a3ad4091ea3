package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// trustDir checks that only root and uid can change what dir (an absolute,
// clean path) and every directory above it hold: each component exists
// owned by root or uid, and a directory is not writable by group or others
// unless it has the sticky bit (like /tmp, where nobody can rename or
// remove another user's entries). Symbolic links on the way are allowed
// when they are owned by root or uid; the directories they lead to are
// checked the same way. Components that do not exist yet are reported in
// missing (the first one), and the check stops there.
func trustDir(dir string, uid uint32) (missing string, err error) {
	for _, p := range prefixes(dir) {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if err := trusted(p, fi, uid); err != nil {
			return "", err
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if real != dir {
		for _, p := range prefixes(real) {
			fi, err := os.Lstat(p)
			if err != nil {
				return "", err
			}
			if err := trusted(p, fi, uid); err != nil {
				return "", fmt.Errorf("%w (reached through %s)", err, dir)
			}
		}
	}
	return "", nil
}

// prefixes returns "/", "/a", "/a/b" for "/a/b".
func prefixes(dir string) []string {
	out := []string{"/"}
	cur := ""
	for _, c := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if c == "" {
			continue
		}
		cur += "/" + c
		out = append(out, cur)
	}
	return out
}

// trusted applies trustDir's rule to one component.
func trusted(p string, fi fs.FileInfo, uid uint32) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("directory %s: cannot read its owner", p)
	}
	accepted := fmt.Sprintf("accepted: owned by root or uid %d, and not writable by group or others unless sticky like /tmp", uid)
	if st.Uid != 0 && st.Uid != uid {
		return fmt.Errorf("refusing directory %s: it is owned by uid %d, who could replace the socket (%s)", p, st.Uid, accepted)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil // a link cannot be changed, only replaced by who may write its directory
	case !fi.IsDir():
		return fmt.Errorf("refusing %s: not a directory", p)
	case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0:
		return fmt.Errorf("refusing directory %s: mode %04o lets other users replace the socket (%s)", p, fi.Mode().Perm(), accepted)
	}
	return nil
}
