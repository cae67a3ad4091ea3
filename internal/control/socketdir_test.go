package control

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestTrustDir(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give directories to another uid") // the e2e suites run as root
	}
	const other = 65534
	for _, c := range []struct {
		name    string
		setup   func(t *testing.T, base string) string // returns the socket dir
		want    string                                 // error substring; "" ok
		missing string                                 // base-relative missing component
		fix     string                                 // base-relative directory to make sticky
	}{
		{"private", func(t *testing.T, b string) string { return mkdir(t, b, "d", 0o700) }, "", "", ""},
		{"0755", func(t *testing.T, b string) string { return mkdir(t, b, "d", 0o755) }, "", "", ""},
		{"sticky world-writable", func(t *testing.T, b string) string { return mkdir(t, b, "d", os.ModeSticky|0o777) }, "", "", ""},
		{"world-writable", func(t *testing.T, b string) string { return mkdir(t, b, "d", 0o777) }, "", "", "d"},
		{"group-writable", func(t *testing.T, b string) string { return mkdir(t, b, "d", 0o775) }, "", "", "d"},
		{"owned by another uid", func(t *testing.T, b string) string {
			d := mkdir(t, b, "d", 0o755)
			chown(t, d, other)
			return d
		}, "is owned by uid 65534", "", ""},
		{"writable parent", func(t *testing.T, b string) string {
			mkdir(t, b, "p", 0o777)
			return mkdir(t, b, "p/d", 0o700)
		}, "/p: mode 0777", "", ""},
		{"parent of another uid", func(t *testing.T, b string) string {
			chown(t, mkdir(t, b, "p", 0o755), other)
			return mkdir(t, b, "p/d", 0o700)
		}, "/p: it is owned by uid 65534", "", ""},
		{"link of another uid", func(t *testing.T, b string) string {
			d := mkdir(t, b, "d", 0o700)
			l := symlink(t, d, filepath.Join(b, "l"))
			if err := os.Lchown(l, other, other); err != nil {
				t.Fatal(err)
			}
			return l
		}, "/l: it is owned by uid 65534", "", ""},
		{"link to a writable dir", func(t *testing.T, b string) string {
			d := mkdir(t, b, "d", 0o777)
			return symlink(t, d, filepath.Join(b, "l"))
		}, "", "", "d"},
		{"link through a writable dir", func(t *testing.T, b string) string {
			mkdir(t, b, "p", 0o777)
			d := mkdir(t, b, "p/d", 0o755)
			return symlink(t, d, filepath.Join(b, "l"))
		}, "reached through", "", ""},
		{"trusted link", func(t *testing.T, b string) string {
			d := mkdir(t, b, "d", 0o755)
			return symlink(t, d, filepath.Join(b, "l"))
		}, "", "", ""},
		{"missing", func(t *testing.T, b string) string { return filepath.Join(b, "x", "y") }, "", "x", ""},
		{"not a directory", func(t *testing.T, b string) string {
			if err := os.WriteFile(filepath.Join(b, "f"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(b, "f", "y")
		}, "not a directory", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			dir := c.setup(t, base)
			missing, fix, err := trustDir(dir, 0)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("trustDir(%s): %v", dir, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("trustDir(%s): %v, want an error containing %q", dir, err, c.want)
			}
			if c.want != "" && !strings.Contains(err.Error(), "accepted: owned by root or uid 0") && c.name != "not a directory" {
				t.Errorf("the error does not say what is accepted: %v", err)
			}
			if want := ""; c.missing != "" {
				want = filepath.Join(base, c.missing)
				if missing != want {
					t.Errorf("missing %q, want %q", missing, want)
				}
			} else if missing != "" {
				t.Errorf("missing %q, want none", missing)
			}
			if want := ""; fix != "" || c.fix != "" {
				if c.fix != "" {
					want = filepath.Join(base, c.fix)
				}
				if fix != want {
					t.Errorf("fix %q, want %q", fix, want)
				}
			}
		})
	}
}

func mkdir(t *testing.T, base, rel string, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(base, rel)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// symlink makes link point to target and returns link.
func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func chown(t *testing.T, p string, uid int) {
	t.Helper()
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// The socket is 0600 even with umask 0, nothing is left beside it, and a
// directory deep enough that the private bind directory would not fit in
// sun_path still works.
func TestListenModeAndLeftovers(t *testing.T) {
	base := t.TempDir()
	// 92 bytes: control.sock fits in sun_path (108), the private
	// directory's .tend-NNN/s beside it does not.
	long := filepath.Join(base, strings.Repeat("d", 92-len(base)-1))
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, dir := range []string{base, long} {
		path := filepath.Join(dir, "control.sock")
		ln, fi, _, err := listen(path)
		if err != nil {
			t.Fatalf("listen(%s) (%d bytes): %v", path, len(path), err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a 0600 socket", path, fi.Mode())
		}
		ents, _ := os.ReadDir(dir)
		ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), "ddd") })
		if len(ents) != 1 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v, want only control.sock", dir, names)
		}
		ln.Close()
	}
}

// fixDir makes a 0777 directory sticky through an fd, and refuses a link.
func TestFixDir(t *testing.T) {
	base := t.TempDir()
	d := mkdir(t, base, "d", 0o777)
	note, err := fixDir(d, 0)
	if err != nil || !strings.Contains(note, "was mode 0777") || !strings.Contains(note, "added the sticky bit (now 1777)") {
		t.Fatalf("fixDir: %q, %v", note, err)
	}
	if fi, err := os.Stat(d); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("after fixDir: %v, %v", fi, err)
	}
	if _, fix, err := trustDir(d, 0); fix != "" || err != nil {
		t.Errorf("after fixDir: fix %q, %v", fix, err)
	}
	l := symlink(t, mkdir(t, base, "e", 0o777), filepath.Join(base, "l"))
	if _, err := fixDir(l, 0); err == nil {
		t.Errorf("fixDir followed a link")
	}
}
