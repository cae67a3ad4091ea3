package cgroup

import (
	"errors"
	"path/filepath"
)

// Usage is what the cgroup tend runs in (the container, usually) uses: the
// figures for `tend status`'s container line and /metrics. Read it with
// Self().Usage(); each call reads 2 or 3 small files and nothing is
// cached.
type Usage struct {
	// MemoryBytes is the memory charged to the cgroup: v2 memory.current,
	// v1 memory.usage_in_bytes (both include the page cache).
	MemoryBytes int64
	// MemoryLimit is the memory limit in bytes (v2 memory.max, v1
	// memory.limit_in_bytes), Unlimited (-1) when there is none.
	MemoryLimit int64
	// CPUSeconds is the CPU time used by all the cgroup's processes, past
	// and present: v2 cpu.stat usage_usec, v1 cpuacct.usage (ns).
	CPUSeconds float64
	// HasMemory and HasCPU say which figures could be read (a controller
	// may be missing or unreadable); the others are zero.
	HasMemory, HasCPU bool
}

// Usage reads the cgroup's memory usage and limit and its CPU time. It
// fails only when neither memory nor CPU could be read; a figure that
// could not be read is left zero with its Has flag false.
func (c *Cgroup) Usage() (Usage, error) {
	var u Usage
	var errs []error
	var err error
	switch c.MemoryVersion() {
	case V1:
		u.MemoryBytes, err = number(filepath.Join(c.Memory, "memory.usage_in_bytes"))
	case V2:
		u.MemoryBytes, err = number(filepath.Join(c.Unified, "memory.current"))
	default:
		err = ErrNoMemoryController
	}
	if err == nil {
		u.MemoryLimit, err = c.MemoryLimit()
	}
	u.HasMemory = err == nil
	if err != nil {
		u.MemoryBytes, u.MemoryLimit = 0, 0
		errs = append(errs, err)
	}
	u.CPUSeconds, err = c.cpuSeconds()
	u.HasCPU = err == nil
	if err != nil {
		errs = append(errs, err)
	}
	if !u.HasMemory && !u.HasCPU {
		return u, errors.Join(errs...)
	}
	return u, nil
}

// cpuSeconds reads the CPU time: v1 cpuacct.usage when the cpuacct
// controller is mounted, else v2 cpu.stat usage_usec (present in every
// v2 cgroup, the cpu controller enabled or not).
func (c *Cgroup) cpuSeconds() (float64, error) {
	if c.CPUAcct != "" {
		ns, err := single(filepath.Join(c.CPUAcct, "cpuacct.usage"))
		return float64(ns) / 1e9, err
	}
	if c.Unified != "" {
		us, err := keyed(filepath.Join(c.Unified, "cpu.stat"), "usage_usec")
		return float64(us) / 1e6, err
	}
	return 0, errors.New("no cgroup CPU accounting (neither v1 cpuacct nor v2 cpu.stat)")
}

// number reads a file holding one non-negative int64.
func number(path string) (int64, error) {
	n, err := single(path)
	if err == nil && n > 1<<63-1 {
		return 0, errors.New(path + ": out of range")
	}
	return int64(n), err
}
