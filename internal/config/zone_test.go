package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestZonePathsBounded: a time zone given as a path (a job's timezone, a
// crontab's CRON_TZ, TZ for jobs without one) that is /dev/zero, a named
// pipe or a huge file is an error at its file:line / key / variable saying
// what the file is and what is accepted; loading never fills memory or
// blocks (issue 17 item 1: before, /dev/zero was "fatal error: out of
// memory" and a FIFO blocked startup forever).
func TestZonePathsBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 1<<30); err != nil { // sparse
		t.Fatal(err)
	}
	cron := func(name, zone string) string {
		return write(t, filepath.Join(dir, name), "# jobs\nCRON_TZ="+zone+"\n@hourly x\n")
	}
	toml := func(name, zone string) string {
		return write(t, filepath.Join(dir, name), "[service.j]\ncommand = \"j\"\nschedule = \"@hourly\"\ntimezone = \""+zone+"\"\n")
	}
	plain := write(t, filepath.Join(dir, "plain.toml"), "[service.j]\ncommand = \"j\"\nschedule = \"@hourly\"\n")
	plainCron := write(t, filepath.Join(dir, "plain.cron"), "@hourly x\n")
	const acc = "; accepted: an IANA name such as \"Europe/Berlin\" or \"UTC\", or the path of a zone file (a regular file of at most 4 MiB)"
	tests := []struct {
		name              string
		configs, crontabs []string
		tz                string
		want              string
	}{
		{"CRON_TZ=/dev/zero", nil, []string{cron("zero.cron", "/dev/zero")}, "",
			dir + `/zero.cron:2: CRON_TZ: "/dev/zero" is not a time zone: /dev/zero: a character device, not a regular file` + acc},
		{"CRON_TZ=fifo", nil, []string{cron("fifo.cron", fifo)}, "",
			dir + `/fifo.cron:2: CRON_TZ: "` + fifo + `" is not a time zone: ` + fifo + ": a named pipe (FIFO), not a regular file" + acc},
		{"timezone=/dev/zero", []string{toml("zero.toml", "/dev/zero")}, nil, "",
			dir + `/zero.toml:4: service.j.timezone: "/dev/zero" is not a time zone: /dev/zero: a character device, not a regular file` + acc},
		{"timezone=huge", []string{toml("huge.toml", huge)}, nil, "",
			dir + `/huge.toml:4: service.j.timezone: "` + huge + `" is not a time zone: ` + huge + ": 1073741824 bytes, larger than 4 MiB" + acc},
		{"TZ=/dev/zero, TOML job", []string{plain}, nil, "/dev/zero",
			plain + `:3: service.j.schedule: no timezone key, and TZ="/dev/zero" is not a time zone: /dev/zero: a character device`},
		{"TZ=fifo, crontab job", nil, []string{plainCron}, fifo,
			plainCron + `:1: no CRON_TZ line, and TZ="` + fifo + `" is not a time zone: ` + fifo + ": a named pipe (FIFO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				var getenv Getenv = env()
				if tt.tz != "" {
					getenv = env("TZ", tt.tz)
				}
				_, err := LoadSet(tt.configs, tt.crontabs, getenv)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
					t.Errorf("got  %v\nwant %s", err, tt.want)
				}
			case <-time.After(60 * time.Second): // only reports a load that never returns
				t.Fatal("loading has not returned after 60 s: blocked on the zone file")
			}
		})
	}
}
