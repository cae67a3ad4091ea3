package schedule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// nexts returns the n times after start, formatted RFC 3339.
func nexts(s *Schedule, start time.Time, n int) []string {
	var out []string
	t := start
	for range n {
		t = s.Next(t)
		out = append(out, t.Format(time.RFC3339))
	}
	return out
}

func TestNext(t *testing.T) {
	loc := berlin(t)
	utcStart := time.Date(2026, 12, 1, 8, 59, 58, 500_000_000, time.UTC)
	tests := []struct {
		name, spec string
		loc        *time.Location
		start      time.Time
		want       []string
	}{
		{"seconds field", "*/20 * * * * *", time.UTC, utcStart,
			[]string{"2026-12-01T09:00:00Z", "2026-12-01T09:00:20Z", "2026-12-01T09:00:40Z"}},
		{"5 fields", "*/5 * * * *", time.UTC, utcStart,
			[]string{"2026-12-01T09:00:00Z", "2026-12-01T09:05:00Z", "2026-12-01T09:10:00Z"}},
		{"every rounds to the second", "@every 1s", time.UTC, utcStart,
			[]string{"2026-12-01T08:59:59Z", "2026-12-01T09:00:00Z", "2026-12-01T09:00:01Z"}},
		{"hourly", "@hourly", time.UTC, utcStart,
			[]string{"2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"}},
		{"daily in a zone", "@daily", loc, utcStart,
			[]string{"2026-12-02T00:00:00+01:00", "2026-12-03T00:00:00+01:00", "2026-12-04T00:00:00+01:00"}},
		{"dom or dow", "0 12 1 * MON", time.UTC, utcStart,
			[]string{"2026-12-01T12:00:00Z", "2026-12-07T12:00:00Z", "2026-12-14T12:00:00Z"}},
		{"29 February", "0 0 29 2 *", time.UTC, utcStart,
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"}},

		// Spring forward in Berlin: 2026-03-29 02:00 CET -> 03:00 CEST.
		{"fixed time in the skipped hour runs at the change", "30 2 * * *", loc, time.Date(2026, 3, 28, 12, 0, 0, 0, loc),
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"}},
		{"every minute of the skipped hour runs once", "* 2 * * *", loc, time.Date(2026, 3, 29, 1, 58, 30, 0, loc),
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00", "2026-03-30T02:01:00+02:00"}},
		{"fixed time outside the skipped hour is untouched", "30 3 * * *", loc, time.Date(2026, 3, 28, 12, 0, 0, 0, loc),
			[]string{"2026-03-29T03:30:00+02:00", "2026-03-30T03:30:00+02:00"}},
		{"wildcard hour follows real time forward", "30 * * * *", loc, time.Date(2026, 3, 29, 1, 0, 0, 0, loc),
			[]string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"}},
		// Fall back in Berlin: 2026-10-25 03:00 CEST -> 02:00 CET.
		{"fixed time in the repeated hour runs once", "30 2 * * *", loc, time.Date(2026, 10, 24, 12, 0, 0, 0, loc),
			[]string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"}},
		{"wildcard hour follows real time back", "30 * * * *", loc, time.Date(2026, 10, 25, 1, 0, 0, 0, loc),
			[]string{"2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:30:00+01:00"}},
		{"every ignores the zone", "@every 1h", loc, time.Date(2026, 10, 25, 1, 0, 0, 0, loc),
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"}},
		// America/New_York springs forward at 02:00 to 03:00 too, on 8 March.
		{"another zone", "15 2 * * *", mustLoad(t, "America/New_York"), time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, tt.loc, tt.start)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.spec, err)
			}
			got := nexts(s, tt.start, len(tt.want))
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("Next from %s:\n got %v\nwant %v", tt.start.Format(time.RFC3339), got, tt.want)
			}
		})
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseErrors(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct{ spec, want string }{
		{"", "empty; accepted: 5 fields"},
		{"* * * *", `"* * * *" is not a schedule (expected 5 to 6 fields, found 4: [* * * *]); accepted: 5 fields`},
		{"61 * * * *", `"61 * * * *" is not a schedule (end of range (61) above maximum (59): 61)`},
		{"0 0 30 2 *", `"0 0 30 2 *" never fires: no time matches it within 5 years`},
		{"0 0 31 4,6,9,11 *", "never fires"},
		{"@reboot", "@reboot is not supported"},
		{"@fortnightly", `"@fortnightly" is not a schedule (unrecognized descriptor: @fortnightly)`},
		{"@every 1500ms", `@every "1500ms": want a duration of whole seconds, at least 1s`},
		{"@every 0s", "at least 1s"},
		{"@every soon", `@every "soon": want a duration`},
		{"TZ=Europe/Berlin * * * * *", "use the timezone key"},
		{"0 0 0 1 1 * 2020", `"0 0 0 1 1 * 2020" never fires`},
		{"0 0 0 1 1 * 2O27", `year field "2O27" is not valid`},
		{"1 2 3 4 5 6 7 8", "expected 5 to 6 fields, found 8"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec, time.UTC, now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.spec, err, tt.want)
		}
	}
}

func TestLocations(t *testing.T) {
	if _, err := LoadLocation("Mars/Olympus_Mons"); err == nil || !strings.Contains(err.Error(), `"Mars/Olympus_Mons" is not a known time zone; accepted: an IANA name`) {
		t.Errorf("LoadLocation(Mars) = %v", err)
	}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if loc, err := DefaultLocation(env(nil)); err != nil || loc != time.UTC {
		t.Errorf("no TZ: %v, %v; want UTC", loc, err)
	}
	if loc, err := DefaultLocation(env(map[string]string{"TZ": ":Europe/Berlin"})); err != nil || loc.String() != "Europe/Berlin" {
		t.Errorf("TZ=:Europe/Berlin: %v, %v", loc, err)
	}
	if loc, err := DefaultLocation(env(map[string]string{"TZ": ":/usr/share/zoneinfo/Europe/Berlin"})); err != nil || loc.String() != "/usr/share/zoneinfo/Europe/Berlin" ||
		time.Date(2026, 7, 1, 12, 0, 0, 0, loc).Format("-0700") != "+0200" {
		t.Errorf("TZ=:/usr/share/zoneinfo/Europe/Berlin: %v, %v", loc, err)
	}
	if _, err := DefaultLocation(env(map[string]string{"TZ": "Nowhere/Town"})); err == nil || !strings.HasPrefix(err.Error(), `TZ="Nowhere/Town" is not a known time zone`) {
		t.Errorf("TZ=Nowhere/Town: %v", err)
	}
}

func TestYearField(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		spec, year string
		want       []string
	}{
		{"0 12 1 1 *", "*", []string{"2027-01-01T12:00:00Z", "2028-01-01T12:00:00Z"}},
		{"0 12 1 1 *", "2028", []string{"2028-01-01T12:00:00Z", "0001-01-01T00:00:00Z"}},
		{"0 12 1 1 *", "2027-2031/2", []string{"2027-01-01T12:00:00Z", "2029-01-01T12:00:00Z", "2031-01-01T12:00:00Z", "0001-01-01T00:00:00Z"}},
		{"*/30 * * * * *", "2026,2030", []string{"2026-12-01T00:00:30Z", "2026-12-01T00:01:00Z"}},
		{"0 0 12 1 1 * 2028", "", []string{"2028-01-01T12:00:00Z", "0001-01-01T00:00:00Z"}}, // 7 fields to Parse
		{"0 0 * * *", "2027/1", []string{"2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"}},
	}
	for _, tt := range tests {
		var s *Schedule
		var err error
		if tt.year == "" {
			s, err = Parse(tt.spec, time.UTC, now)
		} else {
			s, err = ParseWithYear(tt.spec, tt.year, time.UTC, now)
		}
		if err != nil {
			t.Errorf("ParseWithYear(%q, %q): %v", tt.spec, tt.year, err)
			continue
		}
		if got := nexts(s, now, len(tt.want)); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%q year %q:\n got %v\nwant %v", tt.spec, tt.year, got, tt.want)
		}
	}
	for _, tt := range []struct{ spec, year, want string }{
		{"0 0 * * *", "2020", "never fires"},
		{"0 0 * * *", "1969", `year field "1969" is not valid; accepted: *, or years 1970-2099`},
		{"0 0 * * *", "20x7", "is not valid"},
		{"0 0 * * *", "2030-2027", "is not valid"},
		{"0 0 * * *", "*/0", "is not valid"},
		{"@daily", "*", "a year field goes with the 5 or 6 time fields"},
	} {
		if _, err := ParseWithYear(tt.spec, tt.year, time.UTC, now); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseWithYear(%q, %q) = %v, want %q", tt.spec, tt.year, err, tt.want)
		}
	}
}

// Zone files are read bounded and without blocking, whether named by path
// or found under a zone directory: a device, a named pipe or a directory
// is an error naming the path and what it is (before: /dev/zero filled
// memory, a FIFO blocked the open forever).
func TestLoadLocationBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zones := filepath.Join(dir, "zones")
	if err := os.MkdirAll(filepath.Join(zones, "Pipe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(zones, "Pipe", "Land"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(zones, "Zero")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZONEINFO", zones)
	tests := []struct{ name, want string }{
		{"/dev/zero", `"/dev/zero": zone file /dev/zero: a character device, not a regular file; accepted: a regular file of at most 10 MiB`},
		{":/dev/zero", `"/dev/zero": zone file /dev/zero: a character device`},
		{fifo, `zone file ` + fifo + `: a named pipe (FIFO), not a regular file`},
		{dir, `zone file ` + dir + `: a directory, not a regular file`},
		{"Pipe/Land", `"Pipe/Land": zone file ` + zones + `/Pipe/Land: a named pipe (FIFO)`},
		{"Zero", `"Zero": zone file ` + zones + `/Zero: a character device`},
		{"/etc/hostname", `"/etc/hostname": /etc/hostname is not a zone file`},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() { _, err := LoadLocation(tt.name); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadLocation(%q) = %v, want an error containing %s", tt.name, err, tt.want)
			}
		case <-time.After(30 * time.Second): // a hang guard: the answer takes microseconds
			t.Fatalf("LoadLocation(%q) blocked", tt.name)
		}
	}
	// A real zone still loads, by name (from the system's directory, since
	// $ZONEINFO has no such file) and by path.
	t.Setenv("ZONEINFO", "")
	for _, name := range []string{"Europe/Berlin", "/usr/share/zoneinfo/Europe/Paris", "UTC"} {
		if loc, err := LoadLocation(name); err != nil || loc == nil {
			t.Errorf("LoadLocation(%q) = %v, %v", name, loc, err)
		}
	}
}

// GuardLocal sets time.Local to UTC when Go would read a zone file that is
// not a bounded regular file, and leaves it alone otherwise.
func TestGuardLocal(t *testing.T) {
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tz, want string
	}{
		{"/dev/zero", "local time zone: /dev/zero: a character device"},
		{":" + fifo, "local time zone: " + fifo + ": a named pipe (FIFO)"},
		{"Europe/Berlin", ""},
		{"UTC", ""},
		{"/nonexistent/zone", ""},
	} {
		time.Local = saved
		t.Setenv("TZ", tc.tz)
		err := GuardLocal()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("TZ=%s: %v, want no error", tc.tz, err)
		case tc.want == "" && time.Local != saved:
			t.Errorf("TZ=%s: time.Local changed", tc.tz)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("TZ=%s: %v, want %s", tc.tz, err, tc.want)
		case tc.want != "" && time.Local != time.UTC:
			t.Errorf("TZ=%s: time.Local = %v, want UTC", tc.tz, time.Local)
		}
	}
}
