package httpapi

import (
	"bytes"
	"strconv"

	"github.com/tend-sh/tend/internal/status"
)

// The usage families: read from /proc when /metrics is scraped (see
// internal/supervise usage.go for what counts as a service's process).
var (
	mCPU          = metric{"tend_service_cpu_seconds_total", "counter", "CPU time (user and system) of the service's live processes and of the children they waited for, in seconds; resets when processes exit or the service restarts."}
	mMemory       = metric{"tend_service_memory_bytes", "gauge", "Resident memory (RSS) of the service's live processes, in bytes; shared pages count once per process."}
	mProcs        = metric{"tend_service_processes", "gauge", "Live processes of the service: its process groups and sessions, their descendants, the orphans it left that tend can tell."}
	mOrphanCPU    = metric{"tend_orphans_cpu_seconds_total", "counter", "CPU time of the live processes whose service cannot be told, in seconds; resets when they exit."}
	mOrphanMemory = metric{"tend_orphans_memory_bytes", "gauge", "Resident memory of the live processes whose service cannot be told, in bytes."}
	mOrphanProcs  = metric{"tend_orphans_processes", "gauge", "Live processes whose service cannot be told."}
	mCgMemory     = metric{"tend_container_memory_bytes", "gauge", "Memory the container's cgroup uses, in bytes, where readable."}
	mCgLimit      = metric{"tend_container_memory_limit_bytes", "gauge", "The container's cgroup memory limit, in bytes; absent when there is none or it is not readable."}
	mCgCPU        = metric{"tend_container_cpu_seconds_total", "counter", "CPU time the container's cgroup used, in seconds, where readable."}
)

// writeUsageMetrics writes the usage families of the services that have a
// Usage, the orphans' and the container's; nothing that was not measured.
func writeUsageMetrics(b *bytes.Buffer, ss []status.ServiceStatus, tot status.Totals) {
	measured := ss[:0:0]
	for _, s := range ss {
		if s.Usage != nil {
			measured = append(measured, s)
		}
	}
	if len(measured) > 0 {
		for _, f := range []struct {
			m metric
			v func(u *status.Usage) string
		}{
			{mCPU, func(u *status.Usage) string { return seconds(u.CPUSeconds) }},
			{mMemory, func(u *status.Usage) string { return strconv.FormatUint(u.MemoryBytes, 10) }},
			{mProcs, func(u *status.Usage) string { return strconv.Itoa(u.Processes) }},
		} {
			header(b, f.m)
			for _, s := range measured {
				sample(b, f.m, s, "", f.v(s.Usage))
			}
		}
	}
	if o := tot.Orphans; o != nil {
		single(b, mOrphanCPU, seconds(o.CPUSeconds))
		single(b, mOrphanMemory, strconv.FormatUint(o.MemoryBytes, 10))
		single(b, mOrphanProcs, strconv.Itoa(o.Processes))
	}
	if c := tot.Container; c != nil {
		if c.MemoryBytes != nil {
			single(b, mCgMemory, strconv.FormatUint(*c.MemoryBytes, 10))
		}
		if c.MemoryLimitBytes != nil {
			single(b, mCgLimit, strconv.FormatUint(*c.MemoryLimitBytes, 10))
		}
		if c.CPUSeconds != nil {
			single(b, mCgCPU, seconds(*c.CPUSeconds))
		}
	}
}

// single writes a family with one unlabelled sample.
func single(b *bytes.Buffer, m metric, v string) {
	header(b, m)
	b.WriteString(m.name + " " + v + "\n")
}

// seconds formats CPU seconds to the clock tick (10 ms).
func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) }
