package e2e

// Helpers for the config-mode tests (config_*_test.go): writing tend.toml
// files, reading the records that `testprog svc` appends, waiting for tend's
// own messages.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

// The TOML and file helpers are shared with test/hardening.
var (
	tomlStr      = harness.TOMLStr
	tomlArgv     = harness.TOMLArgv
	cfgWriteFile = harness.WriteFileAtomic
	writeConfig  = harness.WriteConfig
	cfgFreePort  = harness.FreePort
)

// tprog is the argv of a testprog subcommand.
func tprog(args ...string) []string { return env.Tprog(args...) }

// svcRecord is one line appended by `testprog svc`:
// "start NAME PID UNIXNANO check=X" or "stop NAME PID UNIXNANO".
type svcRecord struct {
	kind, name string
	pid        int
	at         time.Time
	check      string
}

func (rec svcRecord) String() string {
	return fmt.Sprintf("%s %s pid=%d at=%s check=%s", rec.kind, rec.name, rec.pid, rec.at.Format("15:04:05.000000"), rec.check)
}

// readSvcRecords parses the records file; a malformed line fails the test.
func readSvcRecords(t *testing.T, path string) []svcRecord {
	t.Helper()
	var out []svcRecord
	for _, line := range readLines(path) {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("%s: malformed record %q", filepath.Base(path), line)
		}
		pid, err1 := strconv.Atoi(f[2])
		ns, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: malformed record %q", filepath.Base(path), line)
		}
		rec := svcRecord{kind: f[0], name: f[1], pid: pid, at: time.Unix(0, ns)}
		if len(f) > 4 {
			rec.check = strings.TrimPrefix(f[4], "check=")
		}
		out = append(out, rec)
	}
	return out
}

// filterSvcRecords returns the records of the given kind ("" = any) and
// name ("" = any).
func filterSvcRecords(recs []svcRecord, kind, name string) []svcRecord {
	var out []svcRecord
	for _, rec := range recs {
		if (kind == "" || rec.kind == kind) && (name == "" || rec.name == name) {
			out = append(out, rec)
		}
	}
	return out
}

func formatSvcRecords(recs []svcRecord) string {
	var b strings.Builder
	for _, rec := range recs {
		b.WriteString("    " + rec.String() + "\n")
	}
	return b.String()
}

// waitSvcRecord waits until the records file has a record of that kind and
// name, and returns the first one.
func (r *run) waitSvcRecord(path, kind, name string) svcRecord {
	r.T.Helper()
	var got svcRecord
	r.Poll(fmt.Sprintf("record %q %q in %s", kind, name, filepath.Base(path)), func() bool {
		recs := filterSvcRecords(readSvcRecords(r.T, path), kind, name)
		if len(recs) > 0 {
			got = recs[0]
			return true
		}
		return false
	})
	return got
}

// waitStderr waits until one of tend's stderr lines satisfies match and
// returns it.
func (r *run) waitStderr(what string, match func(line string) bool) string {
	r.T.Helper()
	var got string
	r.Poll(what+" on tend's stderr", func() bool {
		for _, line := range strings.Split(r.Stderr(), "\n") {
			if match(line) {
				got = line
				return true
			}
		}
		return false
	})
	return got
}

// cfgTestprogs returns the host pids of tend's testprog descendants.
func (r *run) cfgTestprogs() []int {
	var pids []int
	for _, p := range r.Descendants() {
		if p.Comm == "testprog" && p.State != 'Z' {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// spewPayload mirrors testprog's SpewPayload: n bytes cycling through a-z,
// starting at letter seq%26.
func spewPayload(seq uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (seq+uint64(i))%26)
	}
	return string(b)
}
