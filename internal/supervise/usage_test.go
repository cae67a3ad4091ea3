package supervise

import (
	"maps"
	"strconv"
	"testing"

	"github.com/tend-sh/tend/internal/proc"
	"github.com/tend-sh/tend/internal/status"
)

func pst(pid, ppid, pgid, sid int, start uint64) proc.Stat {
	return proc.Stat{Process: proc.Process{PID: pid, PPID: ppid, PGID: pgid, SID: sid, State: 'S', StartTime: start}}
}

func TestAttribute(t *testing.T) {
	const self = 1
	web, db := 0, 1
	for _, tc := range []struct {
		name  string
		pid1  bool
		m     members // names, self and pid1 are filled in
		stats []proc.Stat
		prev  map[procKey]string
		want  map[int]int // pid -> owner
	}{
		{
			name: "main, its group, its session, a setsid child of a member",
			pid1: true,
			m:    members{pids: map[int]int{10: web, 20: db}, groups: map[int]int{10: web, 20: db}},
			stats: []proc.Stat{
				pst(1, 0, 1, 1, 1),
				pst(10, 1, 10, 10, 5),  // web's main
				pst(11, 10, 10, 10, 6), // in its group
				pst(12, 11, 12, 10, 7), // own group, web's session
				pst(13, 12, 13, 13, 8), // setsid, parent in web
				pst(20, 1, 20, 20, 5),  // db's main
				pst(21, 1, 21, 21, 9),  // a daemon orphan, nobody's
				pst(22, 21, 21, 21, 9), // its child
			},
			want: map[int]int{1: notMine, 10: web, 11: web, 12: web, 13: web, 20: db, 21: orphan, 22: orphan},
		},
		{
			name: "a past leader's group still counts; a reused number does not",
			pid1: true,
			m:    members{pids: map[int]int{30: web}, groups: map[int]int{10: web, 30: web, 20: db}},
			stats: []proc.Stat{
				pst(11, 1, 10, 10, 6),  // left by web's earlier main 10 (gone)
				pst(30, 1, 30, 30, 9),  // web's main now
				pst(20, 1, 20, 20, 9),  // not db's: db's leader 20 is gone, the pid reused
				pst(21, 20, 20, 20, 9), // in the reused number's group
			},
			want: map[int]int{11: web, 30: web, 20: orphan, 21: orphan},
		},
		{
			name: "an earlier reading tells a double-forked daemon; a reused pid is not it",
			pid1: true,
			m:    members{pids: map[int]int{10: web}, groups: map[int]int{10: web}},
			prev: map[procKey]string{{40, 7}: "db", {41, 7}: "web", {42, 1}: "gone"},
			stats: []proc.Stat{
				pst(10, 1, 10, 10, 5),
				pst(40, 1, 40, 40, 7),  // seen in db before
				pst(41, 1, 41, 41, 99), // pid 41 seen in web, but started later: another process
				pst(42, 1, 42, 42, 1),  // seen in a service that is no more
			},
			want: map[int]int{10: web, 40: db, 41: orphan, 42: orphan},
		},
		{
			name: "probes and pre-stop by pid; a PPID cycle ends",
			pid1: true,
			m:    members{pids: map[int]int{50: db, 10: web}, groups: map[int]int{10: web}},
			stats: []proc.Stat{
				pst(50, 1, 50, 50, 3),
				pst(51, 50, 50, 50, 3),
				pst(60, 61, 60, 60, 3),
				pst(61, 60, 61, 61, 3),
			},
			want: map[int]int{50: db, 51: db, 60: orphan, 61: orphan},
		},
		{
			name: "as a subreaper only tend's descendants count",
			m:    members{pids: map[int]int{10: web}, groups: map[int]int{10: web}},
			stats: []proc.Stat{
				pst(1, 0, 1, 1, 1),     // the host's init
				pst(5, 1, 5, 5, 1),     // tend (self is 5 here)
				pst(10, 5, 10, 10, 2),  // web
				pst(70, 5, 70, 70, 2),  // an orphan re-parented to tend
				pst(71, 70, 70, 70, 2), // its child
				pst(80, 1, 80, 80, 2),  // someone else's
			},
			want: map[int]int{1: notMine, 5: notMine, 10: web, 70: orphan, 71: orphan, 80: notMine},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.names, m.pid1, m.self = []string{"web", "db"}, tc.pid1, self
			if !tc.pid1 {
				m.self = 5
			}
			owner, seen := attribute(m, tc.stats, tc.prev)
			got := map[int]int{}
			for i, st := range tc.stats {
				got[st.PID] = owner[i]
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("owners %v\nwant   %v", got, tc.want)
			}
			for i, st := range tc.stats {
				name, ok := seen[procKey{st.PID, st.StartTime}]
				if o := owner[i]; (o >= 0) != ok || (ok && name != m.names[o]) {
					t.Errorf("pid %d: remembered as %q (%v), owner %d", st.PID, name, ok, o)
				}
			}
		})
	}
}

// The loop remembers the last pastGroups groups a service led, and only
// those of its own.
func TestNoteGroup(t *testing.T) {
	s := &Supervisor{}
	v, w := &svc{Service: &Service{}}, &svc{Service: &Service{}}
	for pid := 10; pid < 17; pid++ {
		s.noteGroup(v, pid, true)
	}
	s.noteGroup(w, 99, false)
	if got := s.usage.groups[v]; len(got) != pastGroups || got[0] != 13 || got[pastGroups-1] != 16 {
		t.Errorf("groups of v = %v; want the last %d, 13..16", got, pastGroups)
	}
	if _, ok := s.usage.groups[w]; ok {
		t.Error("a process in tend's own group was noted as leading one")
	}
}

// BenchmarkAttribute: 200 services of 5 processes (a leader and 4 in its
// group), 1000 processes in all, plus 20 orphans.
func BenchmarkAttribute(b *testing.B) {
	m := members{pids: map[int]int{}, groups: map[int]int{}, self: 1, pid1: true}
	var stats []proc.Stat
	pid := 100
	for i := range 200 {
		m.names = append(m.names, "s"+strconv.Itoa(i))
		lead := pid
		m.pids[lead], m.groups[lead] = i, i
		for range 5 {
			stats = append(stats, pst(pid, lead, lead, lead, uint64(pid)))
			pid++
		}
	}
	for range 20 {
		stats = append(stats, pst(pid, 1, pid, pid, 7))
		pid++
	}
	var seen map[procKey]string
	b.ReportAllocs()
	for b.Loop() {
		_, seen = attribute(m, stats, seen)
	}
}

// TestStatusUsageThroughTheSeam: tend status's usage is the seam's /proc
// walk summed per service: the main and its group are the main's, a
// descendant nobody claims is an orphan, tend itself, a zombie and a
// process outside tend's tree count nowhere; a walk cut short by its
// budget says so.
func TestStatusUsageThroughTheSeam(t *testing.T) {
	const self = fakePIDBase - 1
	fs := newFakeSystem()
	r := newRigWith(t, fs, Config{}, Main([]string{"app"}, nil, nil, nil))
	r.s.self = self
	m := r.pid(MainName)
	st := func(pid, ppid, pgid int, state byte, ticks, pages uint64) proc.Stat {
		s := pst(pid, ppid, pgid, pgid, 1)
		s.State, s.UTime, s.RSSPages = state, ticks, pages
		return s
	}
	main, child := st(m, self, m, 'S', 100, 10), st(m+100, m, m, 'R', 50, 5)
	orphan := st(m+200, self, m+200, 'S', 7, 3)
	fs.stats = []proc.Stat{
		st(self, 1, self, 'S', 1000, 100), // tend
		main, child,
		st(m+101, m, m, 'Z', 9, 0), // a zombie of the main's
		orphan,
		st(m+300, 1, m+300, 'S', 11, 11), // not tend's: a subreaper counts its descendants only
	}
	ss, tot, err := r.s.StatusUsage(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := status.Usage{CPUSeconds: main.CPUSeconds() + child.CPUSeconds(), MemoryBytes: main.MemoryBytes() + child.MemoryBytes(), Processes: 2}
	if len(ss) != 1 || ss[0].Usage == nil {
		t.Fatalf("status %+v: no usage", ss)
	}
	if *ss[0].Usage != want {
		t.Errorf("main's usage %+v, want %+v", *ss[0].Usage, want)
	}
	if o := (status.Usage{CPUSeconds: orphan.CPUSeconds(), MemoryBytes: orphan.MemoryBytes(), Processes: 1}); tot.Orphans == nil || *tot.Orphans != o {
		t.Errorf("orphans %+v, want %+v", tot.Orphans, o)
	}
	if tot.UsageIncomplete {
		t.Error("a complete walk marked incomplete")
	}
	fs.statsCut = true
	if _, tot, err = r.s.StatusUsage(nil); err != nil || !tot.UsageIncomplete {
		t.Errorf("a walk cut at its budget: incomplete %v, err %v", tot.UsageIncomplete, err)
	}
}
