package status

import (
	"strconv"
)

// Usage is what a set of processes costs at one moment: a service's (its
// main process, everything in its process groups and sessions, their
// descendants, and the orphans it left that tend can still tell), or the
// orphans'. internal/supervise reads it from /proc when asked ("tend
// status", GET /status, GET /metrics), never on a timer.
type Usage struct {
	// CPUSeconds is the CPU time, user and system, of the live processes
	// and of the children each of them has waited for, in seconds. It
	// falls when a process exits or a service restarts (a counter reset
	// to Prometheus).
	CPUSeconds float64 `json:"cpu_seconds"`
	// MemoryBytes is the sum of the live processes' resident memory
	// (RSS), in bytes. Pages shared between processes count once per
	// process, as in ps and top.
	MemoryBytes uint64 `json:"memory_bytes"`
	// Processes counts the live processes (zombies left out).
	Processes int `json:"processes"`
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.CPUSeconds += o.CPUSeconds
	u.MemoryBytes += o.MemoryBytes
	u.Processes += o.Processes
}

// Container is the container's own usage and limit, from the cgroup tend
// runs in, where readable; a nil field was not readable (or, for the
// limit, there is none).
type Container struct {
	MemoryBytes      *uint64  `json:"memory_bytes,omitempty"`
	MemoryLimitBytes *uint64  `json:"memory_limit_bytes,omitempty"`
	CPUSeconds       *float64 `json:"cpu_seconds,omitempty"`
}

// Totals is the part of a usage reading that belongs to no one service.
// A Report embeds it: its fields are top-level keys of the JSON.
type Totals struct {
	// Orphans is the usage of the processes tend is responsible for whose
	// service cannot be told (a daemon that left its service's session
	// and whose parent is gone); set when all services were asked for.
	Orphans *Usage `json:"orphans,omitempty"`
	// Container is the cgroup's view, when it could be read.
	Container *Container `json:"container,omitempty"`
	// UsageIncomplete: the reading of /proc ran out of its time budget;
	// the figures count only the processes read by then.
	UsageIncomplete bool `json:"usage_incomplete,omitempty"`
}

// OrphansName is the row of the orphans in "tend status": the parentheses
// keep it apart from every service name (config accepts none with them).
const OrphansName = "(orphans)"

// FormatCPU shows CPU seconds for the status table: "0.42s", "61.5s",
// "3605s".
func FormatCPU(sec float64) string {
	switch {
	case sec < 10:
		return strconv.FormatFloat(sec, 'f', 2, 64) + "s"
	case sec < 1000:
		return strconv.FormatFloat(sec, 'f', 1, 64) + "s"
	}
	return strconv.FormatFloat(sec, 'f', 0, 64) + "s"
}

// FormatBytes shows a size for the status table in binary units as
// Kubernetes writes them: "812Ki", "64.3Mi", "1.5Gi"; below 1 KiB in
// bytes, "512B".
func FormatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	prec := 1
	if v >= 100 {
		prec = 0
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + [...]string{"Ki", "Mi", "Gi", "Ti", "Pi"}[i]
}
