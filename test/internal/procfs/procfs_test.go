package procfs

import (
	"os"
	"reflect"
	"testing"
)

func TestParseStat(t *testing.T) {
	cases := []struct {
		in   string
		want Proc
	}{
		{"1 (tend) S 0 1 1 34816 1 4194560 0 0\n", Proc{PID: 1, Comm: "tend", State: 'S', PPID: 0, PGRP: 1, SID: 1}},
		{"42 (a b) c) (d) Z 7 42 3 0 -1", Proc{PID: 42, Comm: "a b) c) (d", State: 'Z', PPID: 7, PGRP: 42, SID: 3}},
		{"9 () R 1 9 9 0", Proc{PID: 9, Comm: "", State: 'R', PPID: 1, PGRP: 9, SID: 9}},
	}
	for _, c := range cases {
		got, err := ParseStat(c.in)
		if err != nil {
			t.Fatalf("ParseStat(%q): %v", c.in, err)
		}
		if got != c.want {
			t.Errorf("ParseStat(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "1 tend S 0", "x (a) S 1 1 1", "1 (a) S", "1 (a) SS 1 1 1", "1 (a) S x 1 1"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("ParseStat(%q): want error", bad)
		}
	}
}

func TestTree(t *testing.T) {
	procs := []Proc{{PID: 1}, {PID: 2, PPID: 1}, {PID: 3, PPID: 2}, {PID: 4, PPID: 3}, {PID: 5, PPID: 1}, {PID: 6, PPID: 99}}
	if got := Children(procs, 1); !reflect.DeepEqual(got, []int{2, 5}) {
		t.Errorf("Children = %v", got)
	}
	if got := Descendants(procs, 2); !reflect.DeepEqual(got, []int{3, 4}) {
		t.Errorf("Descendants = %v", got)
	}
	if got := Ancestors(procs, 4); !reflect.DeepEqual(got, []int{3, 2, 1}) {
		t.Errorf("Ancestors = %v", got)
	}
	if got := Ancestors(procs, 6); !reflect.DeepEqual(got, []int{99}) {
		t.Errorf("Ancestors(orphan-of-unknown) = %v", got)
	}
}

func TestListSelf(t *testing.T) {
	procs, err := List("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	found := false
	for _, p := range procs {
		if p.PID == self {
			found = true
			if p.PPID != os.Getppid() {
				t.Errorf("ppid %d, want %d", p.PPID, os.Getppid())
			}
		}
	}
	if !found {
		t.Errorf("own pid %d not listed", self)
	}
}
