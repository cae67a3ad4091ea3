// Package cgroup finds the control group tend runs in and reads what tend
// reports from it: how many processes the kernel's OOM killer ended
// (OOMKills) and the memory limit (MemoryLimit); usage.go adds the
// container's memory usage and CPU time. It also creates and removes the
// child cgroups of services with limits (child.go).
//
// Both layouts are read. cgroup v2 (one unified hierarchy, most hosts
// today): memory.events `oom_kill`, memory.max. cgroup v1 (a hierarchy per
// controller): memory/memory.oom_control `oom_kill`,
// memory/memory.limit_in_bytes. On a hybrid host (v1 controllers and an
// empty v2 hierarchy beside them) the v1 memory controller is the one
// used. The cgroup is found from /proc/self/cgroup (which cgroup, per
// hierarchy) and /proc/self/mountinfo (where each hierarchy is mounted,
// and which part of it: a container usually sees only its own subtree).
//
// Everything except child.go only reads, and every read is bounded
// (internal/readfile): it works in an unprivileged container with a
// read-only /sys/fs/cgroup. Nothing here polls; callers read when they
// need a figure.
package cgroup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tend-sh/tend/internal/readfile"
)

// maxProcFile bounds the reads of /proc/self/cgroup and mountinfo; maxFile
// those of cgroup files (memory.events is a few lines, memory.stat ~2 KiB).
const (
	maxProcFile = 1 << 20
	maxFile     = 64 << 10
)

// Unlimited is what the limit functions return for "no limit" (v2 "max";
// v1 reports a huge page-rounded number, anything at or above 2^62 is
// taken as no limit).
const Unlimited int64 = -1

// Cgroup is where one process's cgroup is in the mounted hierarchies. A
// field is "" when that hierarchy or controller is not mounted (or the
// process's cgroup in it is outside what this mount namespace sees).
type Cgroup struct {
	// Unified is the cgroup's directory in the cgroup v2 hierarchy.
	Unified string
	// Memory, CPU, CPUAcct and Pids are its directories in the cgroup v1
	// hierarchies of those controllers (CPU and CPUAcct are often the
	// same directory, mounted as cpu,cpuacct).
	Memory, CPU, CPUAcct, Pids string
}

// Self finds the cgroup tend runs in.
func Self() (*Cgroup, error) {
	return Of("/proc/self/cgroup", "/proc/self/mountinfo")
}

// Of finds a cgroup from a /proc/PID/cgroup file and a mountinfo file
// (tests give fixtures).
func Of(cgroupFile, mountinfoFile string) (*Cgroup, error) {
	cg, err := readfile.Read(cgroupFile, maxProcFile)
	if err != nil {
		return nil, err
	}
	mi, err := readfile.Read(mountinfoFile, maxProcFile)
	if err != nil {
		return nil, err
	}
	return Parse(cg, mi), nil
}

// mount is one cgroup mount of mountinfo.
type mount struct {
	root, point string
	v2          bool
	controllers []string // v1: from the super options
}

// Parse locates the cgroup of a /proc/PID/cgroup text in the mounts of a
// mountinfo text.
func Parse(procCgroup, mountinfo []byte) *Cgroup {
	var mounts []mount
	for line := range bytes.Lines(mountinfo) {
		// Most mounts are not cgroups: skip them before any allocation
		// (this runs at every start of tend, for the OOM baseline).
		if !bytes.Contains(line, []byte(" - cgroup")) {
			continue
		}
		f := strings.Fields(string(line))
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 > len(f) {
			continue
		}
		fstype := f[sep+1]
		m := mount{root: unescape(f[3]), point: unescape(f[4])}
		switch fstype {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			m.controllers = strings.Split(f[sep+3], ",")
		default:
			continue
		}
		mounts = append(mounts, m)
	}
	c := &Cgroup{}
	for line := range bytes.Lines(procCgroup) {
		// ID:CONTROLLERS:PATH; the path may contain ':'.
		parts := strings.SplitN(strings.TrimSpace(string(line)), ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, path := parts[1], parts[2]
		if parts[0] == "0" && ctrls == "" {
			for _, m := range mounts {
				if m.v2 {
					if dir, ok := m.dir(path); ok {
						c.Unified = dir
						break
					}
				}
			}
			continue
		}
		for _, ctrl := range strings.Split(ctrls, ",") {
			var field *string
			switch ctrl {
			case "memory":
				field = &c.Memory
			case "cpu":
				field = &c.CPU
			case "cpuacct":
				field = &c.CPUAcct
			case "pids":
				field = &c.Pids
			default:
				continue
			}
			for _, m := range mounts {
				if !m.v2 && hasAll(m.controllers, ctrl) {
					if dir, ok := m.dir(path); ok {
						*field = dir
						break
					}
				}
			}
		}
	}
	return c
}

func hasAll(list []string, x string) bool {
	for _, l := range list {
		if l == x {
			return true
		}
	}
	return false
}

// dir is where cgroup path (as /proc/PID/cgroup writes it) is under m: a
// container's mount usually has its own cgroup as its root.
func (m mount) dir(path string) (string, bool) {
	if m.root == "/" {
		return filepath.Join(m.point, path), true
	}
	if path == m.root {
		return m.point, true
	}
	if rest, ok := strings.CutPrefix(path, m.root+"/"); ok {
		return filepath.Join(m.point, rest), true
	}
	// The process's cgroup is outside this mount's subtree. A private
	// cgroup namespace shows "/" for the namespace's root, which is the
	// mount's root seen from inside: then the mount point is the cgroup.
	if path == "/" {
		return m.point, true
	}
	return "", false
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Version says which layout a cgroup's memory figures come from.
type Version int

// The layouts.
const (
	None Version = iota // no memory controller found
	V1
	V2
)

func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "none"
}

// MemoryVersion says where the memory figures are read: the v1 memory
// controller when it is mounted, else the unified hierarchy when its
// memory controller is enabled there (memory.events exists), else None.
func (c *Cgroup) MemoryVersion() Version {
	if c.Memory != "" {
		return V1
	}
	if c.Unified != "" {
		if _, err := os.Stat(filepath.Join(c.Unified, "memory.events")); err == nil {
			return V2
		}
	}
	return None
}

// ErrNoMemoryController is returned when no memory controller is found.
var ErrNoMemoryController = errors.New("no cgroup memory controller (neither v1 memory nor v2 memory.events)")

// OOMKills reads how many processes of the cgroup (and of the cgroups
// below it) the kernel's OOM killer has killed: v2 memory.events
// `oom_kill`, v1 memory.oom_control `oom_kill`. The counter only grows.
func (c *Cgroup) OOMKills() (uint64, error) {
	switch c.MemoryVersion() {
	case V1:
		return OOMKillsV1(c.Memory)
	case V2:
		return OOMKillsV2(c.Unified)
	}
	return 0, ErrNoMemoryController
}

// OOMKillsV2 reads `oom_kill` from dir/memory.events.
func OOMKillsV2(dir string) (uint64, error) {
	return keyed(filepath.Join(dir, "memory.events"), "oom_kill")
}

// OOMKillsV1 reads `oom_kill` from dir/memory.oom_control (kernel 4.13 and
// later write it).
func OOMKillsV1(dir string) (uint64, error) {
	return keyed(filepath.Join(dir, "memory.oom_control"), "oom_kill")
}

// MemoryLimit reads the memory limit in bytes (v2 memory.max, v1
// memory.limit_in_bytes); Unlimited when there is none.
func (c *Cgroup) MemoryLimit() (int64, error) {
	switch c.MemoryVersion() {
	case V1:
		return limit(filepath.Join(c.Memory, "memory.limit_in_bytes"))
	case V2:
		return limit(filepath.Join(c.Unified, "memory.max"))
	}
	return 0, ErrNoMemoryController
}

// keyed reads the value of key from a flat-keyed file ("KEY VALUE" lines).
func keyed(path, key string) (uint64, error) {
	data, err := readfile.Read(path, maxFile)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(data) {
		k, v, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, errors.New(path + ": " + key + ": not a number: " + strconv.Quote(v))
			}
			return n, nil
		}
	}
	return 0, errors.New(path + ": no " + key + " line")
}

// single reads a file holding one number.
func single(path string) (uint64, error) {
	data, err := readfile.Read(path, maxFile)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New(path + ": not a number: " + strconv.Quote(s))
	}
	return n, nil
}

// limit reads a limit file: "max" (v2) or a number, at or above 2^62
// meaning none (v1 writes 2^63-1 rounded down to a page).
func limit(path string) (int64, error) {
	data, err := readfile.Read(path, maxFile)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return Unlimited, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New(path + ": not a number or max: " + strconv.Quote(s))
	}
	if n >= 1<<62 {
		return Unlimited, nil
	}
	return int64(n), nil
}
