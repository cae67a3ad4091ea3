package ociruntime

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// logger writes tend-runc's errors where the caller reads the runtime's:
// the --log file in the --log-format runc uses (logrus: text or json;
// containerd and CRI-O read the last "error" entry of the json file and
// show its msg), and stderr.
type logger struct {
	path, format string
}

func (l logger) error(msg string) {
	msg = "tend-runc: " + msg
	os.Stderr.WriteString(msg + "\n")
	if !l.toFile() {
		return
	}
	if err := l.appendEntry("error", msg); err != nil {
		os.Stderr.WriteString("tend-runc: cannot write the --log file: " + err.Error() + "\n")
	}
}

// debugf returns what logs tend-runc's decisions at level debug to the
// --log file only (where runc's own --debug lines go), when on; else a
// no-op.
func (l logger) debugf(on bool) func(format string, a ...any) {
	if !on || !l.toFile() {
		return func(string, ...any) {}
	}
	return func(format string, a ...any) {
		l.appendEntry("debug", "tend-runc: "+fmt.Sprintf(format, a...))
	}
}

// toFile reports whether there is a --log file to write besides stderr.
func (l logger) toFile() bool {
	return l.path != "" && l.path != "/dev/stderr" && l.path != "/proc/self/fd/2"
}

// appendEntry appends one entry to the --log file; the error is the open's.
func (l logger) appendEntry(level, msg string) error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	f.Write(formatEntry(l.format, level, msg, time.Now()))
	return nil
}

// formatEntry is one logrus-compatible log line.
func formatEntry(format, level, msg string, now time.Time) []byte {
	ts := now.Format(time.RFC3339Nano)
	if format == "json" {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, ts})
		return append(b, '\n')
	}
	return []byte("time=" + strconv.Quote(ts) + " level=" + level + " msg=" + strconv.Quote(msg) + "\n")
}
