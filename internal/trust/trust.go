// Package trust holds the one rule for directories tend puts a file in
// that others must not be able to swap (the control socket, log files): a
// directory, and every directory above it, is owned by root or by tend's
// uid and is not writable by group or others unless sticky (like /tmp).
package trust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// Prefixes returns "/", "/a", "/a/b" for "/a/b": the directories the rule
// applies to.
func Prefixes(dir string) []string {
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

// ModeError is a directory of a trusted owner that others may write to
// (the caller may make it safe with the sticky bit instead of refusing).
type ModeError struct {
	Path string
	msg  string
}

func (e *ModeError) Error() string { return e.msg }

// Dir applies the rule to one component p, whose Lstat is fi; what names
// what others could replace ("the socket", "the log file"). A symbolic
// link passes: it cannot be changed, only replaced by who may write its
// directory, and the caller checks its target.
func Dir(p string, fi fs.FileInfo, uid uint32, what string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("directory %s: cannot read its owner", p)
	}
	accepted := fmt.Sprintf("accepted: owned by root or uid %d, and not writable by group or others unless sticky like /tmp", uid)
	if st.Uid != 0 && st.Uid != uid {
		return fmt.Errorf("refusing directory %s: it is owned by uid %d, who could replace %s (%s)", p, st.Uid, what, accepted)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil
	case !fi.IsDir():
		return fmt.Errorf("refusing %s: not a directory", p)
	case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0:
		return &ModeError{Path: p, msg: fmt.Sprintf("refusing directory %s: mode %04o lets other users replace %s (%s)", p, fi.Mode().Perm(), what, accepted)}
	}
	return nil
}

// Tree applies the rule to every directory from / down to dir, both as
// written and as real (dir with its symbolic links resolved, from
// filepath.EvalSymlinks): a link on the way passes Dir, and what it leads
// to is checked in real's chain.
func Tree(dir, real string, uid uint32, what string) error {
	for _, chain := range [][]string{Prefixes(dir), Prefixes(real)} {
		for _, p := range chain {
			fi, err := os.Lstat(p)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return fmt.Errorf("directory %s: %w", p, err)
			}
			if err := Dir(p, fi, uid, what); err != nil {
				return err
			}
		}
	}
	return nil
}
