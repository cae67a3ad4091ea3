package supervise

import (
	"slices"
	"testing"

	"github.com/tend-sh/tend/internal/proc"
)

// The shutdown sweep skips only members of groups signalled in this
// shutdown whose number no newer process has taken.
func TestSweepTargets(t *testing.T) {
	p := func(pid, pgid int, state byte) proc.Process {
		return proc.Process{PID: pid, PGID: pgid, SID: pgid, State: state}
	}
	tests := []struct {
		name      string
		procs     []proc.Process
		signalled map[int]bool
		want      []int
	}{
		{"nothing signalled", []proc.Process{p(10, 10, 'S'), p(11, 10, 'S')}, nil, []int{10, 11}},
		{"members of a signalled group are skipped", []proc.Process{p(11, 10, 'S'), p(12, 10, 'T'), p(20, 20, 'S')},
			map[int]bool{10: true}, []int{20}},
		// The leader (10) was reaped; a newer process got PID 10 and leads
		// a group of its own (a setsid daemon): not the group signalled.
		{"number reused by a new leader", []proc.Process{p(10, 10, 'S'), p(11, 10, 'S')},
			map[int]bool{10: true}, []int{10, 11}},
		{"reused by a zombie leader", []proc.Process{p(10, 10, 'Z'), p(11, 10, 'S')},
			map[int]bool{10: true}, []int{11}},
		{"zombies are never signalled", []proc.Process{p(30, 30, 'Z'), p(31, 30, 'S')}, nil, []int{31}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, q := range sweepTargets(tt.procs, tt.signalled) {
				got = append(got, q.PID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sweepTargets = %v, want %v", got, tt.want)
			}
		})
	}
}
