package sysuser

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testPasswd = `# comment line
root:x:0:0:root:/root:/bin/bash

  # indented comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bob:x:1000:1000:Bob,,,:/home/bob:/bin/sh
nohome:x:1001:1001:No Home::/bin/sh
short:x:1002:1002
tooshort:x:1003
bad:x:notanumber:5:::
big:x:4294967296:5:::
neg:x:-1:5:::
+nis::::::
:x:1004:1004:empty name:/:/bin/sh
dup:x:1005:1005::/first:/bin/sh
dup:x:1006:1006::/second:/bin/sh
twin:x:1005:1007::/twin:/bin/sh
crlf:x:1010:1010::/home/crlf:/bin/sh` + "\r" + `
minusone:x:4294967295:5::/:/bin/sh
1234:x:2000:2000:digits name:/home/digits:/bin/sh
`

const testGroup = `# groups
root:x:0:
daemon:x:1:bob
bob:x:1000:
staff:x:50:alice,bob,carol
wheel:x:10:bob
again:x:10:bob
audio:x:29: bob
video:x:44:bobby,xbob
nogid:x::bob
bad:x:oops:bob
short:x
+nisgroup:::bob
dupmember:x:60:bob,bob
crlf:x:1010:crlf` + "\r" + `
minus:x:4294967295:bob
`

func writeFiles(t *testing.T, passwd, group string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	p, g := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if passwd != "-" {
		if err := os.WriteFile(p, []byte(passwd), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if group != "-" {
		if err := os.WriteFile(g, []byte(group), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p, g
}

func TestLookupFiles(t *testing.T) {
	p, g := writeFiles(t, testPasswd, testGroup)
	tests := []struct {
		spec    string
		want    *Identity
		wantErr string // exact, with {P} and {G} standing for the paths
	}{
		{spec: "root", want: &Identity{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root", Name: "root"}},
		{spec: "0", want: &Identity{UID: 0, GID: 0, Groups: []uint32{0}, Home: "/root", Name: "root"}},
		{spec: "bob", want: &Identity{UID: 1000, GID: 1000, Groups: []uint32{1000, 1, 50, 10, 60}, Home: "/home/bob", Name: "bob"}},
		{spec: "1000", want: &Identity{UID: 1000, GID: 1000, Groups: []uint32{1000, 1, 50, 10, 60}, Home: "/home/bob", Name: "bob"}},
		{spec: "bob:staff", want: &Identity{UID: 1000, GID: 50, Groups: []uint32{50, 1, 10, 60}, Home: "/home/bob", Name: "bob"}},
		{spec: "bob:4242", want: &Identity{UID: 1000, GID: 4242, Groups: []uint32{4242, 1, 50, 10, 60}, Home: "/home/bob", Name: "bob"}},
		{spec: "bob:50", want: &Identity{UID: 1000, GID: 50, Groups: []uint32{50, 1, 10, 60}, Home: "/home/bob", Name: "bob"}},
		{spec: "daemon:root", want: &Identity{UID: 1, GID: 0, Groups: []uint32{0}, Home: "/usr/sbin", Name: "daemon"}},
		// A uid not in passwd: gid 0, home "/", no name, no supplementary groups.
		{spec: "4242", want: &Identity{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}},
		{spec: "4242:staff", want: &Identity{UID: 4242, GID: 50, Groups: []uint32{50}, Home: "/"}},
		{spec: "4242:777", want: &Identity{UID: 4242, GID: 777, Groups: []uint32{777}, Home: "/"}},
		{spec: "007", want: &Identity{UID: 7, Groups: []uint32{0}, Home: "/"}},
		{spec: "4294967294", want: &Identity{UID: 4294967294, Groups: []uint32{0}, Home: "/"}},
		// Empty home and missing trailing fields.
		{spec: "nohome", want: &Identity{UID: 1001, GID: 1001, Groups: []uint32{1001}, Home: "/", Name: "nohome"}},
		{spec: "short", want: &Identity{UID: 1002, GID: 1002, Groups: []uint32{1002}, Home: "/", Name: "short"}},
		// First match wins, by name and by number.
		{spec: "dup", want: &Identity{UID: 1005, GID: 1005, Groups: []uint32{1005}, Home: "/first", Name: "dup"}},
		{spec: "1005", want: &Identity{UID: 1005, GID: 1005, Groups: []uint32{1005}, Home: "/first", Name: "dup"}},
		{spec: "twin", want: &Identity{UID: 1005, GID: 1007, Groups: []uint32{1007}, Home: "/twin", Name: "twin"}},
		{spec: "crlf", want: &Identity{UID: 1010, GID: 1010, Groups: []uint32{1010}, Home: "/home/crlf", Name: "crlf"}},
		// An all-digit spec is a uid, never a name.
		{spec: "1234", want: &Identity{UID: 1234, Groups: []uint32{0}, Home: "/"}},
		{spec: "2000", want: &Identity{UID: 2000, GID: 2000, Groups: []uint32{2000}, Home: "/home/digits", Name: "1234"}},

		{spec: "", wantErr: `empty user spec: want USER[:GROUP], each a name or a number`},
		{spec: "a:b:c", wantErr: `invalid user spec "a:b:c": want USER[:GROUP], each a name or a number`},
		{spec: ":staff", wantErr: `invalid user spec ":staff": want USER[:GROUP], each a name or a number`},
		{spec: "bob:", wantErr: `invalid user spec "bob:": want USER[:GROUP], each a name or a number`},
		{spec: ":", wantErr: `invalid user spec ":": want USER[:GROUP], each a name or a number`},
		{spec: "alice", wantErr: `no such user "alice" in {P}`},
		{spec: "alice:staff", wantErr: `no such user "alice" in {P}`},
		{spec: "bob:nogroup", wantErr: `no such group "nogroup" in {G}`},
		{spec: "4242:nogroup", wantErr: `no such group "nogroup" in {G}`},
		{spec: "tooshort", wantErr: `no such user "tooshort" in {P}`},
		{spec: "bad", wantErr: `no such user "bad" in {P}`},
		{spec: "+nis", wantErr: `no such user "+nis" in {P}`},
		{spec: "-1", wantErr: `no such user "-1" in {P}`},
		{spec: "bob:minus", wantErr: `group "minus" in {G} has invalid gid 4294967295`},
		{spec: "minusone", wantErr: `user "minusone" in {P} has invalid uid/gid 4294967295:5`},
		{spec: "4294967295", wantErr: `invalid user spec "4294967295": user id 4294967295 out of range 0-4294967294`},
		{spec: "4294967296", wantErr: `invalid user spec "4294967296": user id 4294967296 out of range 0-4294967294`},
		{spec: "bob:99999999999", wantErr: `invalid user spec "bob:99999999999": group id 99999999999 out of range 0-4294967294`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := LookupFiles(tt.spec, p, g)
			if tt.wantErr != "" {
				want := strings.NewReplacer("{P}", p, "{G}", g).Replace(tt.wantErr)
				if err == nil || err.Error() != want {
					t.Fatalf("LookupFiles(%q) = %+v, %v; want error %q", tt.spec, got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("LookupFiles(%q): %v", tt.spec, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("LookupFiles(%q) = %+v; want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestLookupMissingFiles(t *testing.T) {
	tests := []struct {
		name, passwd, group, spec string
		want                      *Identity
		wantErr                   string
	}{
		{name: "no passwd, number", passwd: "-", group: testGroup, spec: "1000",
			want: &Identity{UID: 1000, Groups: []uint32{0}, Home: "/"}},
		{name: "no passwd, number:number", passwd: "-", group: "-", spec: "1000:1000",
			want: &Identity{UID: 1000, GID: 1000, Groups: []uint32{1000}, Home: "/"}},
		{name: "no passwd, number:group", passwd: "-", group: testGroup, spec: "1000:staff",
			want: &Identity{UID: 1000, GID: 50, Groups: []uint32{50}, Home: "/"}},
		{name: "no passwd, name", passwd: "-", group: testGroup, spec: "bob",
			wantErr: `no such user "bob" in {P} (file does not exist)`},
		{name: "no group, name user", passwd: testPasswd, group: "-", spec: "bob",
			want: &Identity{UID: 1000, GID: 1000, Groups: []uint32{1000}, Home: "/home/bob", Name: "bob"}},
		{name: "no group, number group", passwd: testPasswd, group: "-", spec: "bob:5",
			want: &Identity{UID: 1000, GID: 5, Groups: []uint32{5}, Home: "/home/bob", Name: "bob"}},
		{name: "no group, group name", passwd: testPasswd, group: "-", spec: "bob:staff",
			wantErr: `no such group "staff" in {G} (file does not exist)`},
		{name: "empty files", passwd: "", group: "", spec: "bob",
			wantErr: `no such user "bob" in {P}`},
		{name: "empty files, number", passwd: "", group: "", spec: "0",
			want: &Identity{Groups: []uint32{0}, Home: "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, g := writeFiles(t, tt.passwd, tt.group)
			got, err := LookupFiles(tt.spec, p, g)
			if tt.wantErr != "" {
				want := strings.NewReplacer("{P}", p, "{G}", g).Replace(tt.wantErr)
				if err == nil || err.Error() != want {
					t.Fatalf("got %+v, %v; want error %q", got, err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestLookupUnreadable(t *testing.T) {
	// A passwd path that exists but cannot be read as a file (a directory)
	// must fail even for a numeric user, rather than silently using gid 0.
	dir := t.TempDir()
	_, g := writeFiles(t, "-", testGroup)
	if _, err := LookupFiles("1000", dir, g); err == nil {
		t.Fatal("LookupFiles with a directory as passwd: want error")
	}
	p, _ := writeFiles(t, testPasswd, "-")
	if _, err := LookupFiles("bob", p, dir); err == nil {
		t.Fatal("LookupFiles with a directory as group: want error")
	}
}

// A passwd or group that is a FIFO or a device fails at once with what it
// is: never a read that blocks (a FIFO without a writer) or never ends
// (/dev/zero).
func TestLookupNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	p, g := writeFiles(t, testPasswd, testGroup)
	for _, tt := range []struct{ spec, passwd, group, want string }{
		{"1000", fifo, g, fifo + ": a named pipe (FIFO), not a regular file; accepted: a regular file of at most 64 MiB"},
		{"1000", "/dev/zero", g, "/dev/zero: a character device, not a regular file; accepted: a regular file of at most 64 MiB"},
		{"bob", p, fifo, fifo + ": a named pipe (FIFO), not a regular file; accepted: a regular file of at most 64 MiB"},
		{"bob", p, "/dev/zero", "/dev/zero: a character device, not a regular file; accepted: a regular file of at most 64 MiB"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := LookupFiles(tt.spec, tt.passwd, tt.group)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != tt.want {
				t.Errorf("LookupFiles(%q, %s, %s) = %v, want error %q", tt.spec, tt.passwd, tt.group, err, tt.want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("LookupFiles(%q, %s, %s) blocked", tt.spec, tt.passwd, tt.group)
		}
	}
}

func TestLookupLongLine(t *testing.T) {
	// Group lines longer than bufio.Scanner's default limit still parse.
	members := strings.Repeat("someone,", 20000) + "bob"
	p, g := writeFiles(t, testPasswd, "big:x:77:"+members+"\n")
	got, err := LookupFiles("bob", p, g)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1000, 77}; !reflect.DeepEqual(got.Groups, want) {
		t.Fatalf("Groups = %v; want %v", got.Groups, want)
	}
}

func TestLookupRealFiles(t *testing.T) {
	// Whatever the host has, uid 0 resolves and never errors.
	id, err := Lookup("0")
	if err != nil {
		t.Fatal(err)
	}
	if id.UID != 0 || len(id.Groups) == 0 || id.Groups[0] != id.GID {
		t.Fatalf("Lookup(0) = %+v", id)
	}
}

func TestParsePasswd(t *testing.T) {
	got := parsePasswd([]byte("a:x:1:2:g:/h:/s\n\n#c\nb:x:3:4\nc:x:5\nd::6:7:::::extra:colons\n"))
	want := []passwdEntry{
		{name: "a", uid: 1, gid: 2, home: "/h"},
		{name: "b", uid: 3, gid: 4},
		{name: "d", uid: 6, gid: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsePasswd = %+v; want %+v", got, want)
	}
}

func TestParseGroup(t *testing.T) {
	got := parseGroup([]byte("a:x:1:u,v\nb:x:2\nc:x:3:\nd:x\n"))
	want := []groupEntry{
		{name: "a", gid: 1, members: "u,v"},
		{name: "b", gid: 2},
		{name: "c", gid: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseGroup = %+v; want %+v", got, want)
	}
}

func TestHasMember(t *testing.T) {
	for _, tt := range []struct {
		list, name string
		want       bool
	}{
		{"bob", "bob", true},
		{"alice,bob", "bob", true},
		{"bob,alice", "bob", true},
		{",,bob,", "bob", true},
		{"", "bob", false},
		{"bobby,xbob", "bob", false},
		{" bob", "bob", false},
		{"bob", "", false},
		{",", "", false},
	} {
		if got := hasMember(tt.list, tt.name); got != tt.want {
			t.Errorf("hasMember(%q, %q) = %v; want %v", tt.list, tt.name, got, tt.want)
		}
	}
}

func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte(testPasswd))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range parsePasswd(data) {
			if e.name == "" || strings.ContainsAny(e.name, ":\n") {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

// FuzzParseGroup: every entry has a valid name, and hasMember agrees with
// the plain reading of group(5) (the list split at commas, names compared
// exactly) for the entry's own name and for every name in its list.
func FuzzParseGroup(f *testing.F) {
	f.Add([]byte(testGroup))
	f.Add([]byte("g:x:1:a,,b, c,a\nh:x:2:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, e := range parseGroup(data) {
			if e.name == "" || strings.ContainsAny(e.name, ":\n") {
				t.Fatalf("bad entry %+v", e)
			}
			listed := strings.Split(e.members, ",")
			for _, name := range append([]string{e.name, "root"}, listed...) {
				want := name != "" && slices.Contains(listed, name)
				if got := hasMember(e.members, name); got != want {
					t.Fatalf("hasMember(%q, %q) = %v, want %v", e.members, name, got, want)
				}
			}
		}
	})
}

// FuzzLookup drives the whole resolver with arbitrary files and specs.
func FuzzLookup(f *testing.F) {
	f.Add("bob:staff", []byte(testPasswd), []byte(testGroup))
	f.Add("1000", []byte(testPasswd), []byte(testGroup))
	f.Fuzz(func(t *testing.T, spec string, passwd, group []byte) {
		dir := t.TempDir()
		p, g := filepath.Join(dir, "p"), filepath.Join(dir, "g")
		if err := os.WriteFile(p, passwd, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(g, group, 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := LookupFiles(spec, p, g)
		if err != nil {
			return
		}
		if len(id.Groups) == 0 || id.Groups[0] != id.GID || id.UID == noID || id.GID == noID || id.Home == "" {
			t.Fatalf("LookupFiles(%q) = %+v", spec, id)
		}
	})
}
