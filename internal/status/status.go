// Package status owns what a service's status is: the state names, when a
// service counts as ready, and the ServiceStatus and JobStatus records that
// "tend status", GET /status, /readyz and /metrics show.
//
// Who owns what: internal/supervise writes these records (its event loop
// is the only owner of the services' state and reports it as a
// ServiceStatus); internal/control (the socket and the CLI) and
// internal/httpapi only read them. Nothing here decides anything about a
// service's life; the one decision made here is Satisfied, "does this
// service count as ready", which the supervisor's dependency gating
// (`after`), wait-ready and /readyz all ask.
package status

import "time"

// State is a service's state as shown by `tend status`. Its JSON form is
// the bare name.
type State string

// The states of a service.
const (
	Starting  State = "starting"  // waiting for its dependencies, or started and not yet ready
	Ready     State = "ready"     // its ready probe passed
	Running   State = "running"   // started, and it has no ready probe
	Backoff   State = "backoff"   // exited; waiting to be restarted
	Failed    State = "failed"    // failed for good (restart limit, ready timeout, dependency failed)
	Stopping  State = "stopping"  // asked to stop, not yet exited
	Stopped   State = "stopped"   // exited and not to be restarted
	Done      State = "done"      // a oneshot that finished successfully
	Scheduled State = "scheduled" // a scheduled job waiting for its next due time
)

// States lists every state, in the order above.
var States = []State{Starting, Ready, Running, Backoff, Failed, Stopping, Stopped, Done, Scheduled}

// Kind is what a service is, as far as readiness goes.
type Kind int

// The kinds of service.
const (
	LongRunning Kind = iota // runs until stopped: ready once running (or its ready probe passed)
	Oneshot                 // runs to completion: ready once done
	Job                     // runs on a schedule: ready once it left "starting"
)

// Satisfied reports whether a service of kind k in state st counts as
// ready: the services listing it in `after` may start, and wait-ready and
// /readyz count it ready. A long-running service is ready once running (no
// ready probe) or ready (its probe passed); a oneshot once it is done;
// nothing waits for a scheduled job's runs, so a job is ready once its
// dependencies let it be scheduled (it left "starting").
func Satisfied(k Kind, st State) bool {
	switch k {
	case Job:
		return st != Starting
	case Oneshot:
		return st == Done
	}
	return st == Ready || st == Running
}

// ServiceStatus is the state of one service, as the supervisor reports it.
// Its JSON form is what "tend status --json" and GET /status show.
type ServiceStatus struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	PID   int    `json:"pid"` // 0 when no process runs
	// Since is when the service entered its current state.
	Since time.Time `json:"since"`
	// Started is when the current (or last) process was started; uptime
	// is now - Started while PID != 0.
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`
	LastExit *int      `json:"last_exit"` // nil until a process has exited
	// Ready is Satisfied(kind, State), as the supervisor decided it when
	// it wrote the record: the services waiting for this one in `after`
	// start on the same decision.
	Ready   bool   `json:"ready"`
	Health  string `json:"health"` // ""|healthy|unhealthy
	Oneshot bool   `json:"oneshot"`
	// ExitReason says why the last process ended, when tend knows more
	// than its exit code: "oom-killed" (the kernel's OOM killer ended it,
	// the memory cgroup's oom_kill counter rose with its SIGKILL) or
	// "possibly-oom-killed" (fewer OOM kills were counted than processes
	// died of SIGKILL at that moment). "" otherwise. The text status shows
	// it beside the last exit code.
	ExitReason string `json:"exit_reason,omitempty"`
	// OOMKills counts the service's processes the kernel killed for lack
	// of memory (certain ones only) since tend started.
	OOMKills uint64 `json:"oom_kills"`
	// Job is set for scheduled jobs (State "scheduled" between runs).
	Job *JobStatus `json:"job,omitempty"`
	// ReplicaOf and Replica are set for an instance of replicas = N:
	// the replicated service's name and the instance's index (Name is
	// ReplicaOf-Replica).
	ReplicaOf string `json:"replica_of,omitempty"`
	Replica   *int   `json:"replica,omitempty"`
	// Usage is what the service's processes cost (cpu_seconds,
	// memory_bytes, processes), when it was asked for (usage.go).
	*Usage
	// StatusText is the last STATUS= the service sent over its
	// NOTIFY_SOCKET (ready = { notify = true }); "" when none.
	StatusText string `json:"status_text"`
	// Reason says why the service is in its state: "started",
	// "ready (READY=1)", "exited 3", "oom-killed", "stopped by user",
	// "watchdog", "health check failed", "restarted after oom-killed", or
	// a failure ("" before anything happened to it).
	Reason string `json:"reason"`
	// NotifyRejected counts the sd_notify messages sent to the service's
	// NOTIFY_SOCKET by processes that are not the service's (ignored);
	// nil for services without one.
	NotifyRejected *uint64 `json:"notify_rejected,omitempty"`
}

// Satisfied reports whether the service counts as ready (wait-ready,
// /readyz). It reads Ready: the supervisor decided it (Satisfied for the
// service's kind and state); readers do not decide again.
func (s ServiceStatus) Satisfied() bool { return s.Ready }

// NotReady describes the services that are not Satisfied, as
// "name (state)", in the order given.
func NotReady(ss []ServiceStatus) []string {
	var out []string
	for _, s := range ss {
		if !s.Satisfied() {
			out = append(out, s.Name+" ("+string(s.State)+")")
		}
	}
	return out
}

// Exit reasons (ServiceStatus.ExitReason; also the state Reason of the exit they explain).
const (
	ReasonOOMKilled         = "oom-killed"
	ReasonPossiblyOOMKilled = "possibly-oom-killed"
)

// Run results of a scheduled job, as counted in JobStatus.Runs and the
// result label of tend_job_runs_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultTimeout = "timeout"
)

// Results lists the run results, in exposition order.
var Results = []string{ResultSuccess, ResultFailure, ResultTimeout}

// JobStatus is the job part of a ServiceStatus: its schedule, its last and
// next runs and its counters. The last run's exit code is the service's
// LastExit.
type JobStatus struct {
	Schedule string `json:"schedule"`
	Timezone string `json:"timezone"`
	// Next is the next due time; nil when the job is stopped.
	Next *time.Time `json:"next,omitempty"`
	// LastStart is when the current or last run started.
	LastStart *time.Time `json:"last_start,omitempty"`
	// LastDurationSeconds is how long the last finished run took.
	LastDurationSeconds *float64 `json:"last_duration_seconds,omitempty"`
	// LastSuccess is when the last successful run ended.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// Runs counts finished runs by result (Results).
	Runs map[string]uint64 `json:"runs"`
	// Skipped counts due times skipped because a run was still going.
	Skipped uint64 `json:"skipped"`
	// Queued: a run is queued behind the current one (overlap = "queue").
	Queued bool `json:"queued,omitempty"`
}

// Jobs returns the scheduled jobs of ss (those with a Job), in order.
func Jobs(ss []ServiceStatus) []ServiceStatus {
	var jobs []ServiceStatus
	for _, s := range ss {
		if s.Job != nil {
			jobs = append(jobs, s)
		}
	}
	return jobs
}

// Report is the document "tend status --json" prints and GET /status
// serves.
type Report struct {
	ShuttingDown bool            `json:"shutting_down"`
	Services     []ServiceStatus `json:"services"`
	// Totals: the orphans' and the container's usage (usage.go).
	Totals
}
