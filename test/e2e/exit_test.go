package e2e

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Scenario: exit codes, --remap-exit, usage errors and exec failures.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	nonExec := t.TempDir() + "/not-executable"
	if err := os.WriteFile(nonExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aDir := t.TempDir()
	// A program open for writing cannot be executed (ETXTBSY): a start
	// failure that is neither "not found" nor "not executable", exit 125.
	busy := t.TempDir() + "/busy"
	if err := os.WriteFile(busy, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	busyW, err := os.OpenFile(busy, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busyW.Close() })
	const (
		quiet   = iota // stderr must be empty
		message        // stderr must have at least one line, all starting "tend: "
		any            // don't care (usage output format is unspecified)
	)
	cases := []struct {
		name   string
		env    []string
		args   []string
		want   int
		stderr int
	}{
		{"exit 0", nil, []string{"--", testprog, "exit", "0"}, 0, quiet},
		{"exit 3", nil, []string{"--", testprog, "exit", "3"}, 3, quiet},
		{"no --", nil, []string{testprog, "exit", "5"}, 5, quiet},
		{"killself KILL", nil, []string{"--", testprog, "killself", "KILL"}, 137, quiet},
		{"killself TERM", nil, []string{"--", testprog, "killself", "TERM"}, 143, quiet},
		{"remap 143:0", nil, []string{"--remap-exit", "143:0", "--", testprog, "killself", "TERM"}, 0, quiet},
		{"remap repeatable", nil, []string{"--remap-exit", "5:0", "--remap-exit", "3:7", "--", testprog, "exit", "3"}, 7, quiet},
		{"remap no match", nil, []string{"--remap-exit", "5:0", "--", testprog, "exit", "3"}, 3, quiet},
		{"remap env", []string{"TEND_REMAP_EXIT=4:0,3:9"}, []string{"--", testprog, "exit", "3"}, 9, quiet},
		{"remap flag wins", []string{"TEND_REMAP_EXIT=3:9"}, []string{"--remap-exit", "3:8", "--", testprog, "exit", "3"}, 8, quiet},
		{"not found path", nil, []string{"--", "/nonexistent/cmd"}, 127, message},
		{"not found PATH", nil, []string{"--", "no-such-command-tend-e2e"}, 127, message},
		{"not executable", nil, []string{"--", nonExec}, 126, message},
		{"directory", nil, []string{"--", aDir}, 126, message},
		{"text file busy", nil, []string{"--", busy}, 125, message},
		{"unknown flag", nil, []string{"--bogus", "--", testprog, "exit", "0"}, 2, any},
		{"missing command", nil, []string{}, 2, any},
		{"missing command after --", nil, []string{"--"}, 2, any},
		{"bad grace", nil, []string{"--grace", "soon", "--", testprog, "exit", "0"}, 2, any},
		{"bad grace env", []string{"TEND_GRACE=soon"}, []string{"--", testprog, "exit", "0"}, 2, any},
		{"bad forward", nil, []string{"--forward", "sideways", "--", testprog, "exit", "0"}, 2, any},
		{"bad rewrite", nil, []string{"--rewrite", "FOO:BAR", "--", testprog, "exit", "0"}, 2, any},
		{"bad remap", nil, []string{"--remap-exit", "x:1", "--", testprog, "exit", "0"}, 2, any},
		{"bad hold env", []string{"TEND_HOLD=maybe"}, []string{"--", testprog, "exit", "0"}, 2, any},
		{"unknown user", nil, []string{"--user", "no-such-user-tend-e2e", "--", testprog, "exit", "0"}, 2, message},
		{"verbose", nil, []string{"-v", "--", testprog, "exit", "0"}, 0, message},
		{"verbose env", []string{"TEND_VERBOSE=1"}, []string{"--", testprog, "exit", "0"}, 0, message},
		{"version", nil, []string{"--version"}, 0, any},
		{"help", nil, []string{"--help"}, 0, any},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, opts{Env: c.env, Timeout: 10 * time.Second}, c.args...)
			r.ExpectExit(c.want)
			stderr := strings.TrimSpace(r.Stderr())
			switch c.stderr {
			case quiet:
				if stderr != "" {
					t.Errorf("tend should be quiet by default; stderr:\n%s", stderr)
				}
			case message:
				if stderr == "" {
					t.Errorf("want a `tend: ` message on stderr, got none")
				}
				for _, l := range strings.Split(stderr, "\n") {
					if !strings.HasPrefix(l, "tend: ") {
						t.Errorf("stderr line without `tend: ` prefix: %q", l)
					}
				}
			}
			if c.want == 125 && !strings.Contains(stderr, "text file busy") {
				t.Errorf("stderr does not say why %s could not start:\n%s", busy, stderr)
			}
			if c.name == "version" && strings.TrimSpace(r.Stdout()+r.Stderr()) == "" {
				t.Errorf("--version printed nothing")
			}
			if c.name == "help" && !strings.Contains(r.Stdout()+r.Stderr(), "--grace") {
				t.Errorf("--help does not mention --grace:\n%s%s", r.Stdout(), r.Stderr())
			}
		})
	}
}

// Scenario: --user runs the main as that user, with its groups and HOME.
func TestUser(t *testing.T) {
	t.Parallel()
	want := "uid=65534 gid=65534 euid=65534 egid=65534 groups=65534 home=/nonexistent"
	if b, err := os.ReadFile("/etc/passwd"); err != nil || !strings.Contains(string(b), "nobody:x:65534:65534:nobody:/nonexistent:") {
		skipHere(t, "e2e --user", "TestUser expects Debian's nobody:x:65534:65534:...:/nonexistent in /etc/passwd")
	}
	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"number", nil, []string{"--user", "65534"}},
		{"name", nil, []string{"--user", "nobody"}},
		{"name:group", nil, []string{"--user", "nobody:nogroup"}},
		{"uid:gid", nil, []string{"--user", "65534:65534"}},
		{"env", []string{"TEND_USER=nobody"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{}, c.args...), "--", testprog, "id")
			r := start(t, opts{Env: append([]string{"HOME=/root"}, c.env...)}, args...)
			r.ExpectExit(0)
			if got := strings.TrimSpace(r.Stdout()); got != want {
				t.Errorf("main ran as\n  %s\nwant\n  %s", got, want)
			}
		})
	}
	t.Run("root-unchanged", func(t *testing.T) {
		t.Parallel()
		r := start(t, opts{}, "--", testprog, "id")
		r.ExpectExit(0)
		if got := r.Stdout(); !strings.HasPrefix(got, "uid=0 gid=0 ") {
			t.Errorf("without --user the main should run as root: %s", got)
		}
	})
}

// --user with supplementary groups, using a private /etc/passwd and
// /etc/group bind-mounted in the test's mount namespace.
func TestUserSupplementaryGroups(t *testing.T) {
	t.Parallel()
	etc := t.TempDir()
	if err := os.Chmod(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	passwd, group := etc+"/passwd", etc+"/group"
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\ntester:x:4242:4343:Tester:/home/tester:/bin/sh\n"), 0o644))
	must(os.WriteFile(group, []byte("root:x:0:\ntgrp:x:4343:\nextra1:x:5001:tester\nextra2:x:5002:other,tester,more\nnotme:x:5003:other\n"), 0o644))
	binds := [][2]string{{passwd, "/etc/passwd"}, {group, "/etc/group"}}
	cases := []struct{ user, want string }{
		{"tester", "uid=4242 gid=4343 euid=4242 egid=4343 groups=4343,5001,5002 home=/home/tester"},
		{"4242", "uid=4242 gid=4343 euid=4242 egid=4343 groups=4343,5001,5002 home=/home/tester"},
		{"tester:extra2", "uid=4242 gid=5002 euid=4242 egid=5002 "},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			t.Parallel()
			r := start(t, opts{Binds: binds, Env: []string{"HOME=/root"}}, "--user", c.user, "--", testprog, "id")
			r.ExpectExit(0)
			got := strings.TrimSpace(r.Stdout())
			if !strings.HasPrefix(got+" ", c.want) {
				t.Errorf("--user %s: main ran as\n  %s\nwant\n  %s", c.user, got, c.want)
			}
			_, after, _ := strings.Cut(got, "groups=")
			groups, _, _ := strings.Cut(after, " ")
			if slices.Contains(strings.Split(groups, ","), "0") {
				t.Errorf("--user %s: root group leaked into the supplementary groups: %s", c.user, got)
			}
		})
	}
}
