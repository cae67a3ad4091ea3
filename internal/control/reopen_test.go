package control

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// reopenLogsSource is fakeLogs with log files to reopen.
type reopenLogsSource struct {
	*fakeLogs
	calls atomic.Int32
	err   error
}

func (r *reopenLogsSource) ReopenLogs() error {
	r.calls.Add(1)
	return r.err
}

func TestLogsReopen(t *testing.T) {
	tests := []struct {
		name     string
		src      LogSource
		args     []string
		wantCode int
		wantErr  string
		calls    int
	}{
		{"reopens", &reopenLogsSource{fakeLogs: newFakeLogs()}, []string{"logs", "--reopen"}, ExitOK, "", 1},
		{"no files: nothing to do", newFakeLogs(), []string{"logs", "--reopen"}, ExitOK, "", 0},
		{"fails", &reopenLogsSource{fakeLogs: newFakeLogs(), err: errors.New("/var/log/web.log: permission denied")}, []string{"logs", "--reopen"}, ExitFailed, "tend: /var/log/web.log: permission denied", 1},
		{"no names", &reopenLogsSource{fakeLogs: newFakeLogs()}, []string{"logs", "--reopen", "web"}, ExitUsage, "--reopen takes no names", 0},
		{"no follow", &reopenLogsSource{fakeLogs: newFakeLogs()}, []string{"logs", "--reopen", "-f"}, ExitUsage, "--reopen takes no names", 0},
		{"no value", &reopenLogsSource{fakeLogs: newFakeLogs()}, []string{"logs", "--reopen=1"}, ExitUsage, "--reopen takes no value", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, sock := start(t, newFake(), tc.src, testConfig())
			code, _, errOut := cli(sock, tc.args...)
			if code != tc.wantCode || (tc.wantErr == "") != (errOut == "") || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, errOut, tc.wantCode, tc.wantErr)
			}
			if r, ok := tc.src.(*reopenLogsSource); ok && int(r.calls.Load()) != tc.calls {
				t.Errorf("ReopenLogs called %d times, want %d", r.calls.Load(), tc.calls)
			}
		})
	}
}
