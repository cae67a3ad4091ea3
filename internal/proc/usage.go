package proc

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// Stat is a Process with what it costs, from the same /proc/PID/stat line:
//
//	utime, stime    (fields 14, 15) CPU time the process's threads spent in
//	                user and kernel mode, live threads and exited ones alike
//	cutime, cstime  (fields 16, 17) the same of its children it has waited
//	                for (and, recursively, theirs)
//	rss             (field 24) resident pages: the process's share of RAM,
//	                shared pages (libraries, shared memory) counted in every
//	                process that maps them, as top's RES and ps's RSS do;
//	                /proc/PID/statm's second field is the same number
//
// Times are in clock ticks (ClockTicks per second); a zombie or a kernel
// thread has no resident pages.
type Stat struct {
	Process
	UTime, STime, CUTime, CSTime uint64
	RSSPages                     uint64
}

// ClockTicks is the unit of the times in /proc/PID/stat, per second: the
// kernel's USER_HZ, sysconf(_SC_CLK_TCK). It is 100 on every architecture
// Linux runs containers on (x86, arm, arm64, ppc64, s390x, riscv): the
// kernel converts from its internal HZ before it writes the times, so the
// number never depends on how the kernel was built. Go offers no sysconf
// without cgo, and glibc's sysconf itself returns this constant.
const ClockTicks = 100

// CPUSeconds is the process's CPU time and that of the children it
// waited for, in seconds.
func (s Stat) CPUSeconds() float64 {
	return float64(s.UTime+s.STime+s.CUTime+s.CSTime) / ClockTicks
}

// MemoryBytes is the process's resident memory in bytes.
func (s Stat) MemoryBytes() uint64 { return s.RSSPages * uint64(pageSize) }

// pageSize is the unit of rss; tests may change it.
var pageSize = os.Getpagesize()

// parseStatUsage parses a /proc/PID/stat line up to its rss field.
func parseStatUsage(b []byte) (Stat, error) {
	var f statFields
	p, err := parseFields(b, &f, allFields)
	if err != nil {
		return Stat{}, err
	}
	st := Stat{Process: p}
	for _, x := range []struct {
		to    *uint64
		field int
	}{{&st.UTime, fUTime}, {&st.STime, fSTime}, {&st.CUTime, fCUTime}, {&st.CSTime, fCSTime}, {&st.RSSPages, fRSS}} {
		// The kernel prints cutime, cstime and rss as signed longs;
		// none is ever negative, but a negative one counts as 0.
		n, ok := atoi(f[x.field])
		if !ok {
			return Stat{}, fmt.Errorf("malformed stat: bad number in field %d", x.field+3)
		}
		*x.to = uint64(max(n, 0))
	}
	return st, nil
}

// ListStats is List with every process's usage fields: one read of
// /proc/PID/stat per process, as List. It stops at deadline (when not
// zero) and then returns what it read with complete false; a process
// that vanishes mid-walk is left out.
func ListStats(deadline time.Time) (stats []Stat, complete bool, err error) {
	out := make([]Stat, 0, 64)
	complete, err = walk(deadline, func(b []byte, rel string) error {
		st, err := parseStatUsage(b)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", root, rel, err)
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	slices.SortFunc(out, func(a, b Stat) int { return a.PID - b.PID })
	return out, complete, nil
}
