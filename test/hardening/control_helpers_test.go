package hardening

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

// statusReport is the part of `tend status --json` the tests use.
type statusReport = harness.Status

// tendCLI runs `tend ARGS... --socket SOCK` with a timeout and returns its
// exit code (-2: no answer within timeout), stdout, stderr and how long it
// took (harness.Env.CLI).
func tendCLI(sock string, timeout time.Duration, args ...string) (int, string, string, time.Duration) {
	return env.CLI(sock, timeout, args...)
}

// status calls `tend status --json` and fails the test when it does not
// answer within timeout or answers garbage.
func (r *run) status(sock string, timeout time.Duration) (statusReport, time.Duration) {
	r.T.Helper()
	code, out, errs, took := tendCLI(sock, timeout, "status", "--json")
	if code != 0 {
		r.T.Fatalf("tend status --json: code %d after %v (-2 = no answer within %v)\nstdout: %s\nstderr: %s\n%s",
			code, took.Round(time.Millisecond), timeout, out, errs, r.Diag())
	}
	rep, err := harness.ParseStatus(out)
	if err != nil {
		r.T.Fatalf("tend status --json: %v\n%s", err, out)
	}
	return rep, took
}

func waitStatus(t *testing.T, r *run, sock, what string, cond func(statusReport) bool) statusReport {
	t.Helper()
	var last statusReport
	r.Poll(what, func() bool {
		r.Alive("waiting for " + what)
		code, out, _, _ := tendCLI(sock, 5*time.Second, "status", "--json")
		if code != 0 {
			return false
		}
		st, err := harness.ParseStatus(out)
		if err != nil {
			return false
		}
		last = st
		return cond(last)
	})
	return last
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
