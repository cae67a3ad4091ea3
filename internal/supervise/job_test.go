package supervise

import (
	"testing"

	"github.com/tend-sh/tend/internal/config"
)

// A reload builds the services again from a re-read file: an unchanged job
// must compare equal, or every SIGHUP would re-arm (and, while it runs,
// later restart) every job.
func TestJobUnchangedAcrossReload(t *testing.T) {
	src := []byte("[service.j]\ncommand = \"j\"\nschedule = \"*/5 * * * *\"\ntimezone = \"Europe/Berlin\"\ntimeout = \"1m\"\n")
	build := func() *Service {
		c, err := config.Parse("tend.toml", src, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		svcs, err := FromConfig(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return svcs[0]
	}
	a, b := build(), build()
	if a.Job == nil || a.Job.Schedule.String() != "*/5 * * * *" || a.Overlap != config.OverlapSkip || a.Restart != config.RestartNever {
		t.Fatalf("job = %+v %+v", *a, a.Job)
	}
	if !a.same(b) {
		t.Errorf("the same job built twice differs:\n%+v\n%+v", *a.Job.Schedule, *b.Job.Schedule)
	}
	c := build()
	c.Overlap = config.OverlapQueue
	if a.same(c) {
		t.Error("a changed overlap compares equal")
	}
}

// Nothing waits for a job, but the main service's after lists every
// service: a job counts as satisfied once it is armed.
func TestJobSatisfied(t *testing.T) {
	v := &svc{Service: &Service{Service: &config.Service{Name: "j"}, Job: &Job{}}, state: Starting}
	if v.satisfied() {
		t.Error("a job waiting for its dependencies is satisfied")
	}
	for _, st := range []State{Scheduled, Running, Stopped, Failed} {
		v.state = st
		if !v.satisfied() {
			t.Errorf("a %s job is not satisfied", st)
		}
	}
}
