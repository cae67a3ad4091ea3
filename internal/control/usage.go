package control

import (
	"fmt"
	"io"

	"github.com/tend-sh/tend/internal/status"
)

// UsageBackend is a Backend that can also say what its services cost. A
// status request with "usage":true ("tend status" sends it; wait-ready,
// which polls, does not) and the HTTP API's /status and /metrics ask it.
type UsageBackend interface {
	// StatusUsage is Status with each service's Usage set, plus the
	// usage that belongs to no one service: the orphans' (only when
	// names is empty) and the container's. It reads /proc on the
	// caller's goroutine; the figures are of that moment.
	StatusUsage(names []string) ([]status.ServiceStatus, status.Totals, error)
}

// StatusWithUsage asks b for the named services' status, with their usage
// when b can measure it (a UsageBackend).
func StatusWithUsage(b Backend, names []string) ([]status.ServiceStatus, status.Totals, error) {
	if ub, ok := b.(UsageBackend); ok {
		return ub.StatusUsage(names)
	}
	ss, err := b.Status(names)
	return ss, status.Totals{}, err
}

// usageCells are the CPU and MEM cells of a status row: "-" when not
// measured, or when no process runs.
func usageCells(u *status.Usage) (cpu, mem string) {
	if u == nil || u.Processes == 0 {
		return "-", "-"
	}
	return status.FormatCPU(u.CPUSeconds), status.FormatBytes(u.MemoryBytes)
}

// orphansRow is the table's row of the orphans: their CPU and memory, the
// process count in the PID column's place.
func orphansRow(u *status.Usage) string {
	cpu, mem := usageCells(u)
	procs := "procs"
	if u.Processes == 1 {
		procs = "proc"
	}
	return fmt.Sprintf("%s\t-\t%d %s\t-\t-\t-\t-\t-\t%s\t%s\n", status.OrphansName, u.Processes, procs, cpu, mem)
}

// writeContainerLine writes the container's cgroup usage under the table,
// when it was read.
func writeContainerLine(w io.Writer, t status.Totals) error {
	c := t.Container
	if c == nil || (c.MemoryBytes == nil && c.CPUSeconds == nil) {
		if t.UsageIncomplete {
			_, err := fmt.Fprintln(w, "usage incomplete: /proc was not read in time")
			return err
		}
		return nil
	}
	line := "container:"
	if c.CPUSeconds != nil {
		line += " cpu " + status.FormatCPU(*c.CPUSeconds)
	}
	if c.MemoryBytes != nil {
		line += " memory " + status.FormatBytes(*c.MemoryBytes)
		if c.MemoryLimitBytes != nil {
			line += " of " + status.FormatBytes(*c.MemoryLimitBytes)
		} else {
			line += " (no limit)"
		}
	}
	if t.UsageIncomplete {
		line += "; usage incomplete: /proc was not read in time"
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
