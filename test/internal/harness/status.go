package harness

import (
	"encoding/json"
	"time"
)

// Status is the part of `tend status --json` the suites read. It is
// decoded with types of its own, not internal/control's, so that a change
// of the wire format fails the tests.
type Status struct {
	ShuttingDown bool            `json:"shutting_down"`
	Services     []ServiceStatus `json:"services"`
}

// ServiceStatus is one service of a Status.
type ServiceStatus struct {
	Name     string     `json:"name"`
	State    string     `json:"state"`
	PID      int        `json:"pid"`
	Restarts int        `json:"restarts"`
	LastExit *int       `json:"last_exit"`
	Job      *JobStatus `json:"job"` // scheduled jobs only
	// StatusText is the last STATUS= of a notify service; Reason why
	// the service is in its state; NotifyRejected the messages of other
	// processes ignored (notify services only).
	StatusText     string  `json:"status_text"`
	Reason         string  `json:"reason"`
	NotifyRejected *uint64 `json:"notify_rejected"`
}

// JobStatus is the job part of a ServiceStatus.
type JobStatus struct {
	Schedule            string            `json:"schedule"`
	Timezone            string            `json:"timezone"`
	Next                *time.Time        `json:"next"`
	LastStart           *time.Time        `json:"last_start"`
	LastDurationSeconds *float64          `json:"last_duration_seconds"`
	LastSuccess         *time.Time        `json:"last_success"`
	Runs                map[string]uint64 `json:"runs"`
	Skipped             uint64            `json:"skipped"`
}

// ParseStatus decodes the output of `tend status --json`.
func ParseStatus(out string) (Status, error) {
	var s Status
	err := json.Unmarshal([]byte(out), &s)
	return s, err
}

// ByName indexes the services of s by name.
func (s Status) ByName() map[string]ServiceStatus {
	m := map[string]ServiceStatus{}
	for _, v := range s.Services {
		m[v.Name] = v
	}
	return m
}
