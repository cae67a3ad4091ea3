package supervise

import (
	"errors"
	"strconv"
	"time"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/schedule"
	"github.com/tend-sh/tend/internal/status"
)

// Jobs are services with a schedule. They run on the event loop like every
// other service: the next due time is a timer whose firing arrives on
// s.timers, a run is an ordinary start of the service's process, and its
// exit comes back from the reaper. What differs is what happens around a
// run, all in this file:
//
//   - armJob (from schedule(), once the job's dependencies are ready)
//     computes the next due time and arms the timer; the job is Scheduled.
//   - onJobTimer at a due time starts a run, or, when the previous run is
//     still going, skips it (counted) or queues one run (overlap = "queue").
//     The next due time is computed from now: times missed while tend was
//     busy or not running are not caught up.
//   - a run longer than Timeout gets the stop signal (SIGKILL after
//     stop_timeout, as any stop).
//   - jobExited: a failed run is not restarted (the next due time is the
//     retry); a critical job's failed run stops the container with its code.
//   - nothing starts once the shutdown has begun; a running run gets its
//     stop signal like any service (advance, in supervise.go).

// Job is what makes a Service a scheduled job.
// Its overlap policy and timeout are the definition's (config.Service's
// Overlap and Timeout).
type Job struct {
	Schedule *schedule.Schedule
}

// maxJobWait caps a job timer: it then re-reads the wall clock, so a step
// of the system clock delays a run by at most this much.
const maxJobWait = time.Minute

// Job timer kinds: after the service timers of service.go.
const (
	tJobDue timerKind = iota + 100
	tJobTimeout
)

// jobState is the runtime state of a job. Only the event loop touches it.
type jobState struct {
	gen      int // of the due timer; bumped when it is re-armed
	due      timer
	next     time.Time
	queued   bool // overlap = "queue": run again when the current run ends
	resume   bool // the run started from Scheduled: go back to it afterwards
	timedOut bool
	timeout  timer

	lastStart    time.Time
	lastDuration time.Duration
	lastSuccess  time.Time
	ended        bool // a run has ended: lastDuration is set
	runs         map[string]uint64
	skipped      uint64
}

func (v *svc) jobState() *jobState {
	if v.job == nil {
		v.job = &jobState{runs: map[string]uint64{}}
	}
	return v.job
}

// armJob makes v wait for its next due time.
func (s *Supervisor) armJob(v *svc) {
	j := v.jobState()
	v.setState(Scheduled)
	j.next = v.Job.Schedule.Next(s.sys.now())
	s.armJobTimer(v)
}

// armJobTimer (re)arms the due timer for j.next.
func (s *Supervisor) armJobTimer(v *svc) {
	j := v.job
	j.gen++
	if j.due != nil {
		j.due.Stop()
		j.due = nil
	}
	if j.next.IsZero() {
		s.log.Error("job has no next run within 5 years", "service", v.Name, "schedule", v.Job.Schedule.String())
		return
	}
	d := min(max(j.next.Sub(s.sys.now()), 0), maxJobWait)
	j.due = s.afterEvent(d, timerEvent{v: v, gen: j.gen, kind: tJobDue})
}

// onJobTimer handles the job timer kinds; it reports whether ev was one.
func (s *Supervisor) onJobTimer(ev timerEvent) bool {
	v := ev.v
	switch ev.kind {
	case tJobDue:
		if v.job == nil || ev.gen != v.job.gen || s.byName[v.Name] != v || v.Job == nil {
			return true // re-armed, removed or no longer a job since
		}
		s.onJobDue(v)
	case tJobTimeout:
		if ev.gen == v.gen && v.alive() && v.job != nil {
			v.job.timedOut = true
			s.log.Warn("job run exceeded its timeout; stopping it", "service", v.Name, "pid", v.pid, "timeout", v.Timeout, "signal", v.StopSignal)
			s.signalStop(v, v.StopSignal)
		}
	default:
		return false
	}
	return true
}

func (s *Supervisor) onJobDue(v *svc) {
	j := v.job
	if s.phase != running {
		return // never start during shutdown (or --hold)
	}
	if v.state != Scheduled && !(v.alive() && j.resume) {
		return // stopped, or waiting to be re-armed: the schedule is off
	}
	now := s.sys.now()
	if now.Before(j.next) {
		s.armJobTimer(v) // capped wait, or the clock was set back
		return
	}
	due := j.next
	j.next = v.Job.Schedule.Next(now)
	s.armJobTimer(v)
	switch {
	case v.alive() && v.Overlap == config.OverlapQueue:
		if !j.queued {
			j.queued = true
			s.log.Info("job still running; queued the run due now", "service", v.Name, "due", due.Format(time.RFC3339))
		}
	case v.alive():
		j.skipped++
		s.log.Warn("job still running; skipped the run due now", "service", v.Name, "pid", v.pid, "due", due.Format(time.RFC3339), "skipped", j.skipped)
	default:
		s.startRun(v)
	}
}

// startRun starts one run of job v now.
func (s *Supervisor) startRun(v *svc) {
	j := v.jobState()
	j.resume = v.state == Scheduled
	j.timedOut = false
	s.start(v)
	if v.alive() && v.Timeout > 0 {
		j.timeout = s.after(v.Timeout, v, tJobTimeout)
	}
}

// jobRunEnded records the end of a run (or a run that could not start),
// whatever happens next.
func (s *Supervisor) jobRunEnded(v *svc, success bool) {
	j := v.jobState()
	if j.timeout != nil {
		j.timeout.Stop()
		j.timeout = nil
	}
	j.lastStart, j.lastDuration, j.ended = v.started, s.sys.now().Sub(v.started), true
	switch {
	case j.timedOut:
		j.runs[status.ResultTimeout]++
	case success:
		j.runs[status.ResultSuccess]++
		j.lastSuccess = s.sys.now()
	default:
		j.runs[status.ResultFailure]++
	}
}

// jobExited handles a run that ended on its own while tend runs: never a
// restart; a critical job's failure stops the container with its code.
func (s *Supervisor) jobExited(v *svc, code int, success bool) {
	j := v.job
	took := j.lastDuration.Round(time.Millisecond)
	if !success {
		why := "exited with code " + strconv.Itoa(code)
		if j.timedOut {
			why = "timed out after " + v.Timeout.String() + " (code " + strconv.Itoa(code) + ")"
		}
		if v.Critical {
			s.fail(v, code, "critical job run "+why)
			return
		}
		s.log.Error("job run failed; not restarted, the next run is the retry", "service", v.Name, "reason", why, "took", took)
	} else {
		s.log.Info("job run done", "service", v.Name, "took", took)
	}
	if !j.resume {
		v.setState(Stopped)
		s.schedule()
		return
	}
	v.setState(Scheduled)
	if j.queued {
		j.queued = false
		s.startRun(v)
	}
	s.schedule()
}

// RunJob starts one run of the job name now (tend run NAME), whatever its
// schedule; a stopped job runs once and stays stopped.
func (s *Supervisor) RunJob(name string) error {
	return s.call(func() error {
		if s.phase != running {
			return errors.New("tend is shutting down")
		}
		vs, err := s.lookup([]string{name})
		if err != nil {
			return err
		}
		v := vs[0]
		switch {
		case v.Job == nil:
			return errors.New(name + " is not a job (it has no schedule); use tend restart " + name)
		case v.alive():
			return errors.New(name + " is already running (pid " + strconv.Itoa(v.pid) + ")")
		case v.state == Starting:
			return errors.New(name + " is waiting for its dependencies")
		}
		s.log.Info("job run asked for (tend run)", "service", name)
		s.startRun(v)
		return nil
	})
}

// jobStatus is the job part of v's status, nil for other services.
func (v *svc) jobStatus() *status.JobStatus {
	if v.Job == nil {
		return nil
	}
	st := &status.JobStatus{
		Schedule: v.Job.Schedule.String(),
		Timezone: v.Job.Schedule.Location().String(),
		Runs:     map[string]uint64{status.ResultSuccess: 0, status.ResultFailure: 0, status.ResultTimeout: 0},
	}
	j := v.job
	if j == nil {
		return st
	}
	t := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	if v.state == Scheduled || v.alive() && j.resume {
		st.Next = t(j.next)
	}
	st.LastStart = t(j.lastStart)
	if v.alive() {
		st.LastStart = t(v.started)
	}
	if j.ended {
		d := j.lastDuration.Seconds()
		st.LastDurationSeconds = &d
	}
	st.LastSuccess = t(j.lastSuccess)
	for k, n := range j.runs {
		st.Runs[k] = n
	}
	st.Skipped = j.skipped
	st.Queued = j.queued
	return st
}
