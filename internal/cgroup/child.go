package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits are a service's resource limits; a zero field is no limit.
type Limits struct {
	MemoryMax int64   // bytes (v2 memory.max, v1 memory.limit_in_bytes)
	CPUMax    float64 // cores (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us)
	PidsMax   int64   // processes and threads (pids.max)
}

// Any reports whether any limit is set.
func (l Limits) Any() bool { return l.MemoryMax > 0 || l.CPUMax > 0 || l.PidsMax > 0 }

// cpuPeriod is the CFS period tend writes: 100 ms, the kernel's default.
const cpuPeriod = 100000

// childPrefix starts the name of every child cgroup tend creates:
// tend.NAME, beside the cgroups of tend's own cgroup.
const childPrefix = "tend."

// Child is a cgroup tend created for one service, below its own cgroup,
// in each hierarchy that a limit needs (v1) or in the unified one (v2).
type Child struct {
	Version Version
	// Dirs are the directories created, removed by Remove.
	Dirs []string
	// memory is the memory controller's directory (OOM counter, limit).
	memory string
	fd     int // v2: an O_PATH descriptor of the directory, for CLONE_INTO_CGROUP; -1 otherwise
}

// limitVersion says where limits would be written: v1 when the v1
// controllers the limits need are mounted, else v2.
func (c *Cgroup) limitVersion(l Limits) Version {
	if (l.MemoryMax == 0 || c.Memory != "") && (l.CPUMax == 0 || c.CPU != "") && (l.PidsMax == 0 || c.Pids != "") {
		return V1
	}
	if c.Unified != "" {
		return V2
	}
	return None
}

// v1Dirs are the v1 hierarchies' directories the limits need.
func (c *Cgroup) v1Dirs(l Limits) []string {
	var dirs []string
	for _, d := range []struct {
		need bool
		dir  string
	}{{l.MemoryMax > 0, c.Memory}, {l.CPUMax > 0, c.CPU}, {l.PidsMax > 0, c.Pids}} {
		if d.need && !containsStr(dirs, d.dir) {
			dirs = append(dirs, d.dir)
		}
	}
	return dirs
}

func containsStr(list []string, x string) bool {
	for _, l := range list {
		if l == x {
			return true
		}
	}
	return false
}

// v2Controllers are the v2 controllers the limits need.
func v2Controllers(l Limits) []string {
	var cs []string
	if l.MemoryMax > 0 {
		cs = append(cs, "memory")
	}
	if l.CPUMax > 0 {
		cs = append(cs, "cpu")
	}
	if l.PidsMax > 0 {
		cs = append(cs, "pids")
	}
	return cs
}

// CanLimit reports whether child cgroups with limits l can be created
// here, and if not, why: nil means yes. It writes nothing (it checks
// that the directories are writable and, for v2, that the controllers are
// available).
func (c *Cgroup) CanLimit(l Limits) error {
	switch c.limitVersion(l) {
	case V1:
		for _, dir := range c.v1Dirs(l) {
			if err := unix.Access(dir, unix.W_OK); err != nil {
				return fmt.Errorf("cannot create a child cgroup in %s (cgroup v1): %v", dir, describeErr(err))
			}
		}
		return nil
	case V2:
		if err := unix.Access(c.Unified, unix.W_OK); err != nil {
			return fmt.Errorf("cannot create a child cgroup in %s (cgroup v2): %v (no delegated, writable cgroup)", c.Unified, describeErr(err))
		}
		data, err := os.ReadFile(filepath.Join(c.Unified, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cannot read the controllers of %s: %v", c.Unified, err)
		}
		have := strings.Fields(string(data))
		for _, ctrl := range v2Controllers(l) {
			if !containsStr(have, ctrl) {
				return fmt.Errorf("the %s controller is not available in %s (cgroup v2, cgroup.controllers: %q): not delegated", ctrl, c.Unified, strings.TrimSpace(string(data)))
			}
		}
		return nil
	}
	return errors.New("no cgroup hierarchy found with the controllers the limits need (memory, cpu, pids)")
}

func describeErr(err error) string {
	switch {
	case errors.Is(err, unix.EROFS):
		return "the cgroup file system is read-only"
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return "permission denied"
	case errors.Is(err, unix.ENOENT):
		return "no such directory"
	}
	return err.Error()
}

// NewChild creates the child cgroup tend.NAME for a service below c and
// writes the limits into it. A directory left by an earlier tend is
// reused (its limits rewritten). On error what was created is removed.
func (c *Cgroup) NewChild(name string, l Limits) (*Child, error) {
	ch := &Child{fd: -1, Version: c.limitVersion(l)}
	fail := func(err error) (*Child, error) {
		_ = ch.Remove()
		return nil, err
	}
	switch ch.Version {
	case V1:
		for _, parent := range c.v1Dirs(l) {
			dir := filepath.Join(parent, childPrefix+name)
			if err := mkdir(dir); err != nil {
				return fail(err)
			}
			ch.Dirs = append(ch.Dirs, dir)
			if parent == c.Memory {
				ch.memory = dir
			}
		}
		if l.MemoryMax > 0 {
			if err := write(filepath.Join(ch.memory, "memory.limit_in_bytes"), strconv.FormatInt(l.MemoryMax, 10)); err != nil {
				return fail(err)
			}
		}
		if l.CPUMax > 0 {
			dir := filepath.Join(c.CPU, childPrefix+name)
			if err := write(filepath.Join(dir, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriod)); err != nil {
				return fail(err)
			}
			if err := write(filepath.Join(dir, "cpu.cfs_quota_us"), strconv.FormatInt(cpuQuota(l.CPUMax), 10)); err != nil {
				return fail(err)
			}
		}
		if l.PidsMax > 0 {
			if err := write(filepath.Join(c.Pids, childPrefix+name, "pids.max"), strconv.FormatInt(l.PidsMax, 10)); err != nil {
				return fail(err)
			}
		}
	case V2:
		if err := c.enableV2(v2Controllers(l)); err != nil {
			return fail(err)
		}
		dir := filepath.Join(c.Unified, childPrefix+name)
		if err := mkdir(dir); err != nil {
			return fail(err)
		}
		ch.Dirs, ch.memory = []string{dir}, dir
		if l.MemoryMax > 0 {
			if err := write(filepath.Join(dir, "memory.max"), strconv.FormatInt(l.MemoryMax, 10)); err != nil {
				return fail(err)
			}
		}
		if l.CPUMax > 0 {
			if err := write(filepath.Join(dir, "cpu.max"), strconv.FormatInt(cpuQuota(l.CPUMax), 10)+" "+strconv.Itoa(cpuPeriod)); err != nil {
				return fail(err)
			}
		}
		if l.PidsMax > 0 {
			if err := write(filepath.Join(dir, "pids.max"), strconv.FormatInt(l.PidsMax, 10)); err != nil {
				return fail(err)
			}
		}
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(fmt.Errorf("open %s: %w", dir, err))
		}
		ch.fd = fd
	default:
		return nil, c.CanLimit(l)
	}
	return ch, nil
}

// cpuQuota is the CFS quota in µs per cpuPeriod for cores (at least the
// kernel's minimum of 1 ms).
func cpuQuota(cores float64) int64 {
	return max(int64(cores*cpuPeriod+0.5), 1000)
}

// enableV2 enables the controllers for c's children (cgroup.subtree_control).
// cgroup v2 allows that only in a cgroup without processes of its own
// (except the root): when the kernel says EBUSY, tend's own processes
// are first moved into a leaf child, tend.init.
func (c *Cgroup) enableV2(ctrls []string) error {
	if len(ctrls) == 0 {
		return nil
	}
	ctl := filepath.Join(c.Unified, "cgroup.subtree_control")
	want := "+" + strings.Join(ctrls, " +")
	err := write(ctl, want)
	if err == nil || !errors.Is(err, unix.EBUSY) {
		return err
	}
	leaf := filepath.Join(c.Unified, childPrefix+"init")
	if err := mkdir(leaf); err != nil {
		return err
	}
	procs, err := os.ReadFile(filepath.Join(c.Unified, "cgroup.procs"))
	if err != nil {
		return err
	}
	for _, pid := range strings.Fields(string(procs)) {
		// A process that exited meanwhile (ESRCH) is no matter.
		if err := write(filepath.Join(leaf, "cgroup.procs"), pid); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return write(ctl, want)
}

func mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// write writes s to a cgroup file (which must exist: no O_CREAT).
func write(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", s, path, err)
	}
	return nil
}

// FD is the v2 cgroup's directory descriptor for CLONE_INTO_CGROUP
// (syscall.SysProcAttr.CgroupFD): the child is in the cgroup from its
// first instruction. -1 for v1, where Add moves the process after the
// fork instead.
func (ch *Child) FD() int { return ch.fd }

// Add moves pid into the child cgroup (every hierarchy of it): v1
// cgroup.procs. Called right after the fork, before the loop does
// anything else; what the process did between its exec and this write
// (a few microseconds) stays charged to tend's cgroup.
func (ch *Child) Add(pid int) error {
	for _, dir := range ch.Dirs {
		if err := write(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// OOMKills reads the child's OOM kill counter.
func (ch *Child) OOMKills() (uint64, error) {
	switch {
	case ch.memory == "":
		return 0, ErrNoMemoryController
	case ch.Version == V2:
		return OOMKillsV2(ch.memory)
	}
	return OOMKillsV1(ch.memory)
}

// MemoryLimit reads the child's memory limit (Unlimited when none).
func (ch *Child) MemoryLimit() (int64, error) {
	switch {
	case ch.memory == "":
		return Unlimited, nil
	case ch.Version == V2:
		return limit(filepath.Join(ch.memory, "memory.max"))
	}
	return limit(filepath.Join(ch.memory, "memory.limit_in_bytes"))
}

// Close closes the v2 directory descriptor (FD), leaving the cgroup.
func (ch *Child) Close() {
	if ch.fd >= 0 {
		unix.Close(ch.fd)
		ch.fd = -1
	}
}

// Remove removes the child's directories (rmdir: the kernel refuses while
// a process is still in one, EBUSY) and closes its descriptor.
func (ch *Child) Remove() error {
	ch.Close()
	var errs []error
	for _, dir := range ch.Dirs {
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
