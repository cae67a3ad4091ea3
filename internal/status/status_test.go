package status

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestSatisfied(t *testing.T) {
	// want lists, per kind, the states in which a service counts as ready.
	for _, tc := range []struct {
		kind Kind
		want []State
	}{
		{LongRunning, []State{Ready, Running}},
		{Oneshot, []State{Done}},
		// A job is ready once it may be scheduled: everything but starting.
		{Job, []State{Ready, Running, Backoff, Failed, Stopping, Stopped, Done, Scheduled}},
	} {
		for _, st := range States {
			if got, want := Satisfied(tc.kind, st), slices.Contains(tc.want, st); got != want {
				t.Errorf("Satisfied(kind %d, %s) = %v, want %v", tc.kind, st, got, want)
			}
		}
	}
}

// TestNotReady: wait-ready and /readyz read the supervisor's decision.
func TestNotReady(t *testing.T) {
	got := NotReady([]ServiceStatus{
		{Name: "web", State: Running, Ready: true},
		{Name: "db", State: Backoff},
		{Name: "migrate", State: Done, Oneshot: true, Ready: true},
		{Name: "seed", State: Running, Oneshot: true},
	})
	if want := []string{"db (backoff)", "seed (running)"}; !slices.Equal(got, want) {
		t.Errorf("NotReady = %q, want %q", got, want)
	}
}

// TestStateJSON: a state is its bare name on the wire.
func TestStateJSON(t *testing.T) {
	b, err := json.Marshal(ServiceStatus{Name: "web", State: Backoff})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["state"] != "backoff" {
		t.Errorf("state on the wire = %v, want \"backoff\"", m["state"])
	}
	seen := map[State]bool{}
	for _, st := range States {
		if st == "" || seen[st] {
			t.Errorf("state %q empty or listed twice", st)
		}
		seen[st] = true
	}
}
