// Package procfs is a tiny /proc reader shared by the test program and the
// end-to-end harness. It only knows what the tests need: pid, ppid, state,
// process group, session and command name of every process.
package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Proc is one line of /proc/<pid>/stat, reduced to the fields we use.
type Proc struct {
	PID   int
	Comm  string
	State byte // 'R', 'S', 'Z', ...
	PPID  int
	PGRP  int
	SID   int
}

// ParseStat parses the contents of /proc/<pid>/stat. The command name is in
// parentheses and may itself contain spaces and parentheses, so the fields
// after it are found from the LAST ')'.
func ParseStat(s string) (Proc, error) {
	var p Proc
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return p, fmt.Errorf("procfs: malformed stat %q", s)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return p, fmt.Errorf("procfs: bad pid in %q: %v", s, err)
	}
	p.PID = pid
	p.Comm = s[open+1 : closing]
	rest := strings.Fields(s[closing+1:])
	// rest[0]=state rest[1]=ppid rest[2]=pgrp rest[3]=session
	if len(rest) < 4 || len(rest[0]) != 1 {
		return p, fmt.Errorf("procfs: short stat %q", s)
	}
	p.State = rest[0][0]
	if p.PPID, err = strconv.Atoi(rest[1]); err != nil {
		return p, fmt.Errorf("procfs: bad ppid in %q", s)
	}
	if p.PGRP, err = strconv.Atoi(rest[2]); err != nil {
		return p, fmt.Errorf("procfs: bad pgrp in %q", s)
	}
	if p.SID, err = strconv.Atoi(rest[3]); err != nil {
		return p, fmt.Errorf("procfs: bad session in %q", s)
	}
	return p, nil
}

// Read reads /proc/<pid>/stat under root (normally "/proc").
func Read(root string, pid int) (Proc, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return Proc{}, err
	}
	return ParseStat(string(b))
}

// List returns every process visible under root, sorted by pid. Processes
// that vanish while we read are skipped.
func List(root string) ([]Proc, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := Read(root, pid)
		if err != nil {
			continue // raced with exit
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

// Children returns the pids whose parent is ppid.
func Children(procs []Proc, ppid int) []int {
	var out []int
	for _, p := range procs {
		if p.PPID == ppid {
			out = append(out, p.PID)
		}
	}
	return out
}

// Descendants returns all transitive children of pid (not pid itself).
func Descendants(procs []Proc, pid int) []int {
	var out []int
	queue := []int{pid}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range Children(procs, cur) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// Ancestors returns pid's parent chain (excluding pid), nearest first.
func Ancestors(procs []Proc, pid int) []int {
	byPID := make(map[int]Proc, len(procs))
	for _, p := range procs {
		byPID[p.PID] = p
	}
	var out []int
	seen := map[int]bool{pid: true}
	for cur := pid; ; {
		p, ok := byPID[cur]
		if !ok || p.PPID == 0 || seen[p.PPID] {
			return out
		}
		out = append(out, p.PPID)
		seen[p.PPID] = true
		cur = p.PPID
	}
}
