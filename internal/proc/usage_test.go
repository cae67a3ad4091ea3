package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// usageLine builds a /proc/PID/stat line with the given usage fields.
func usageLine(pid int, comm string, utime, stime, cutime, cstime, rss int64) string {
	return fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194304 100 0 0 0 %d %d %d %d 20 0 1 0 4242 3133440 %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		pid, comm, pid, pid, utime, stime, cutime, cstime, rss)
}

func TestParseStatUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Stat
	}{
		{
			name: "real line of cat(1)",
			line: "22538 (cat) R 22536 22536 14382 0 -1 4194304 100 0 0 0 7 2 0 0 20 0 1 0 47774 3133440 389 18446744073709551615 94403770085376 94403770105257 140720560562432 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94403770121264 94403770122880 94404115341312 140720560568818 140720560568838 140720560568838 140720560570347 0\n",
			want: Stat{Process: Process{PID: 22538, PPID: 22536, PGID: 22536, SID: 14382, State: 'R', Comm: "cat", StartTime: 47774}, UTime: 7, STime: 2, RSSPages: 389},
		},
		{
			name: "children's times",
			line: usageLine(7, "sh", 150, 50, 1000, 300, 16384),
			want: Stat{Process: Process{PID: 7, PPID: 1, PGID: 7, SID: 7, State: 'S', Comm: "sh", StartTime: 4242}, UTime: 150, STime: 50, CUTime: 1000, CSTime: 300, RSSPages: 16384},
		},
		{
			name: "comm that looks like fields",
			line: usageLine(8, ") S 1 2 3 4 5 6 7 8 9 10 11 12", 1, 2, 3, 4, 5),
			want: Stat{Process: Process{PID: 8, PPID: 1, PGID: 8, SID: 8, State: 'S', Comm: ") S 1 2 3 4 5 6 7 8 9 10 11 12", StartTime: 4242}, UTime: 1, STime: 2, CUTime: 3, CSTime: 4, RSSPages: 5},
		},
		{
			name: "a negative signed field counts as 0",
			line: usageLine(9, "x", 1, 1, -5, -1, -2),
			want: Stat{Process: Process{PID: 9, PPID: 1, PGID: 9, SID: 9, State: 'S', Comm: "x", StartTime: 4242}, UTime: 1, STime: 1},
		},
		{
			name: "zombie: no rss, and no trailing fields",
			line: "10 (z) Z 1 10 10 0 -1 4227140 0 0 0 0 30 10 0 0 20 0 1 0 99 0 0",
			want: Stat{Process: Process{PID: 10, PPID: 1, PGID: 10, SID: 10, State: 'Z', Comm: "z", StartTime: 99}, UTime: 30, STime: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatUsage([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("parseStatUsage =\n%+v\nwant\n%+v", got, tc.want)
			}
			// The Process part agrees with parseStat.
			if p, err := parseStat([]byte(tc.line)); err != nil || p != got.Process {
				t.Errorf("parseStat = %+v, %v; want %+v", p, err, got.Process)
			}
		})
	}
}

func TestParseStatUsageMalformed(t *testing.T) {
	for _, line := range []string{
		"",
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5",                          // no vsize, rss
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 100",                      // no rss
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 1 0 0 20 0 1 0 5 100 7",                    // utime not a number
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 100 7x",                   // rss not a number
		"1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 99999999999999999999 0 0 20 0 1 0 5 100 7", // out of range
	} {
		if st, err := parseStatUsage([]byte(line)); err == nil {
			t.Errorf("parseStatUsage(%q) = %+v; want an error", line, st)
		}
	}
}

func TestStatUnits(t *testing.T) {
	old := pageSize
	pageSize = 4096
	t.Cleanup(func() { pageSize = old })
	st := Stat{UTime: 150, STime: 50, CUTime: 25, CSTime: 25, RSSPages: 16384}
	if got := st.CPUSeconds(); got != 2.5 {
		t.Errorf("CPUSeconds = %v; want 2.5 (250 ticks at %d per second)", got, ClockTicks)
	}
	if got := st.MemoryBytes(); got != 64<<20 {
		t.Errorf("MemoryBytes = %d; want %d (16384 pages of 4 KiB)", got, 64<<20)
	}
}

func TestListStats(t *testing.T) {
	dir := fakeProc(t)
	writeFile(t, filepath.Join(dir, "1", "stat"), usageLine(1, "tend", 10, 5, 0, 0, 2000))
	writeFile(t, filepath.Join(dir, "30", "stat"), usageLine(30, "web", 300, 100, 7, 3, 16384))
	writeFile(t, filepath.Join(dir, "31", "stat"), "") // reaped between open and read
	if err := os.Mkdir(filepath.Join(dir, "32"), 0o755); err != nil {
		t.Fatal(err) // vanished: a directory without stat
	}
	writeFile(t, filepath.Join(dir, "uptime"), "1.0 1.0\n")
	got, complete, err := ListStats(time.Time{})
	if err != nil || !complete {
		t.Fatalf("ListStats = %v, complete %v", err, complete)
	}
	if len(got) != 2 || got[0].PID != 1 || got[1].PID != 30 || got[1].UTime != 300 || got[1].CSTime != 3 || got[1].RSSPages != 16384 {
		t.Fatalf("ListStats = %+v", got)
	}

	// A malformed stat is an error, as in List.
	writeFile(t, filepath.Join(dir, "40", "stat"), "40 (x) S 1 1 1")
	if _, _, err := ListStats(time.Time{}); err == nil {
		t.Error("ListStats with a malformed stat: want an error")
	}
	if err := os.RemoveAll(filepath.Join(dir, "40")); err != nil {
		t.Fatal(err)
	}

	// A deadline that has passed stops the walk early.
	for pid := 100; pid < 400; pid++ {
		writeFile(t, filepath.Join(dir, strconv.Itoa(pid), "stat"), usageLine(pid, "w", 1, 1, 0, 0, 1))
	}
	got, complete, err = ListStats(time.Now().Add(-time.Second))
	if err != nil || complete || len(got) >= 302 {
		t.Errorf("ListStats past its deadline = %d processes, complete %v, %v; want fewer than 302, incomplete", len(got), complete, err)
	}
	got, complete, err = ListStats(time.Now().Add(time.Minute))
	if err != nil || !complete || len(got) != 302 {
		t.Errorf("ListStats = %d processes, complete %v, %v; want 302, complete", len(got), complete, err)
	}
}

// TestListStatsReal reads this process's own line from the real /proc.
func TestListStatsReal(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Burn a little CPU and touch some memory so that both show.
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	all, _, err := ListStats(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range all {
		if st.PID == os.Getpid() {
			if st.MemoryBytes() < 8<<20 || st.CPUSeconds() <= 0 {
				t.Errorf("own usage: %d bytes, %v s; want at least 8 MiB and some CPU", st.MemoryBytes(), st.CPUSeconds())
			}
			if buf[len(buf)-1] == 42 {
				t.Log() // keeps buf alive until here
			}
			return
		}
	}
	t.Fatalf("own pid %d not listed", os.Getpid())
}

// BenchmarkListStats walks the real /proc (the host's: how many processes
// depends on the machine; b.ReportMetric gives the time per process).
func BenchmarkListStats(b *testing.B) {
	n := 0
	for b.Loop() {
		all, _, err := ListStats(time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		n = len(all)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/process")
	b.ReportMetric(float64(n), "processes")
}
