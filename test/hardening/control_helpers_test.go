package hardening

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

// serviceStatus is the part of `tend status --json` the tests use.
type serviceStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	LastExit *int   `json:"last_exit"`
}

type statusReport struct {
	ShuttingDown bool            `json:"shutting_down"`
	Services     []serviceStatus `json:"services"`
}

// tendCLI runs `tend ARGS... --socket SOCK` with a timeout and returns its
// exit code, stdout, stderr and how long it took.
func tendCLI(sock string, timeout time.Duration, args ...string) (int, string, string, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tendBin, append(append([]string{}, args...), "--socket", sock)...)
	cmd.Env = cleanEnv(nil)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	state := harness.StateOnCancel(cmd)
	t0 := time.Now()
	err := cmd.Run()
	took := time.Since(t0)
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			code = -2 // timed out
			errb.WriteString("\n--- the CLI did not finish in time:\n" + state())
		}
	}
	return code, out.String(), errb.String(), took
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
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		r.T.Fatalf("tend status --json: %v\n%s", err, out)
	}
	return rep, took
}

// byName indexes a status report.
func (s statusReport) byName() map[string]serviceStatus {
	m := map[string]serviceStatus{}
	for _, v := range s.Services {
		m[v.Name] = v
	}
	return m
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
		if json.Unmarshal([]byte(out), &last) != nil {
			return false
		}
		return cond(last)
	})
	return last
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
