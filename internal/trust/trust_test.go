package trust

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPrefixes(t *testing.T) {
	for in, want := range map[string][]string{
		"/":       {"/"},
		"/a":      {"/", "/a"},
		"/a/b/":   {"/", "/a", "/a/b"},
		"/a//b/c": {"/", "/a", "/a/b", "/a/b/c"},
	} {
		if got := Prefixes(in); !slices.Equal(got, want) {
			t.Errorf("Prefixes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(file, link)
	uid := uint32(os.Geteuid())
	for _, tt := range []struct {
		path, want string // want: "" ok, "mode" a ModeError, else a substring
	}{
		{mk("private", 0o700), ""},
		{mk("open", 0o777), "mode"},
		{mk("sticky", 0o777|os.ModeSticky), ""},
		{mk("groupw", 0o770), "mode"},
		{file, "not a directory"},
		{link, ""},
	} {
		fi, err := os.Lstat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		err = Dir(tt.path, fi, uid, "the thing")
		var me *ModeError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.want == "mode" && (!errors.As(err, &me) || me.Path != tt.path || !strings.Contains(err.Error(), "lets other users replace the thing")):
			t.Errorf("%s: %v, want a ModeError", tt.path, err)
		case tt.want != "" && tt.want != "mode" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.path, err, tt.want)
		}
	}
	fi, _ := os.Lstat(dir)
	if err := Dir(dir, fi, uid+12345, "x"); uid == 0 && err != nil {
		t.Errorf("a root-owned directory refused for another uid: %v", err)
	}
}

func TestTree(t *testing.T) {
	dir := t.TempDir()
	uid := uint32(os.Geteuid())
	ok := filepath.Join(dir, "ok")
	open := filepath.Join(dir, "open")
	inner := filepath.Join(open, "inner")
	link := filepath.Join(ok, "link")
	// Checked: a link never made would fail Tree too, for the wrong reason.
	for _, err := range []error{
		os.Mkdir(ok, 0o700),
		os.Mkdir(open, 0o700),
		os.Chmod(open, 0o777),
		os.Mkdir(inner, 0o700),
		os.Symlink(inner, link),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	real := func(p string) string {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := Tree(ok, real(ok), uid, "x"); err != nil {
		t.Errorf("%s: %v", ok, err)
	}
	// Both are refused for the world-writable directory on the way.
	var me *ModeError
	if err := Tree(inner, real(inner), uid, "x"); !errors.As(err, &me) || me.Path != open {
		t.Errorf("%s under a world-writable directory: %v, want a ModeError for %s", inner, err, open)
	}
	if err := Tree(link, real(link), uid, "x"); !errors.As(err, &me) || me.Path != open {
		t.Errorf("a link into a world-writable directory: %v, want a ModeError for %s", err, open)
	}
	if err := Tree(filepath.Join(dir, "gone"), filepath.Join(dir, "gone"), uid, "x"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing directory: %v", err)
	}
}
