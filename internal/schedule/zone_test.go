package schedule

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestZoneFilesBounded: every zone file, named by path or found by name,
// is read as a bounded regular file: /dev/zero, a named pipe, a directory
// or a huge file is an error naming the file and what is accepted, never
// a read that fills memory or an open that blocks (issue 17 item 1).
func TestZoneFilesBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 64<<20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a zone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A ZONEINFO directory whose entries are hostile, found by name.
	zi := filepath.Join(dir, "zoneinfo")
	if err := os.MkdirAll(filepath.Join(zi, "Hostile"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"Hostile/Zero": "/dev/zero", "Hostile/Pipe": fifo, "Hostile/Huge": huge} {
		if err := os.Symlink(target, filepath.Join(zi, name)); err != nil {
			t.Fatal(err)
		}
	}
	berlin, err := os.ReadFile("/usr/share/zoneinfo/Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(zi, "Hostile", "Fine"), berlin, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ZONEINFO": zi}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	tests := []struct {
		name string
		want string // "" = loads
	}{
		{"/dev/zero", `"/dev/zero" is not a time zone: /dev/zero: a character device, not a regular file; accepted: an IANA name`},
		{fifo, fifo + ": a named pipe (FIFO), not a regular file; accepted: an IANA name"},
		{dir, dir + ": a directory, not a regular file"},
		{huge, huge + ": 67108864 bytes, larger than 4 MiB; accepted"},
		{junk, junk + " is not a zone file (tzfile"},
		{filepath.Join(dir, "missing"), "no such file; accepted: an IANA name"},
		{"Hostile/Zero", `"Hostile/Zero" is not a time zone: ` + zi + "/Hostile/Zero: a character device, not a regular file"},
		{"Hostile/Pipe", zi + "/Hostile/Pipe: a named pipe (FIFO), not a regular file"},
		{"Hostile/Huge", zi + "/Hostile/Huge: 67108864 bytes, larger than 4 MiB"},
		{"../../../../dev/zero", `"../../../../dev/zero" is not a known time zone; accepted: an IANA name`},
		{"Hostile/Fine", ""},
		{"Europe/Berlin", ""},
		{"UTC", ""},
	}
	for _, tt := range tests {
		type result struct {
			loc *time.Location
			err error
		}
		done := make(chan result, 1)
		go func() {
			loc, err := loadZone(tt.name, getenv)
			done <- result{loc, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(60 * time.Second): // a blocked open never returns; the bound only reports it
			t.Fatalf("loading %q has not returned after 60 s: blocked", tt.name)
		}
		switch {
		case tt.want == "" && r.err != nil:
			t.Errorf("%q: %v", tt.name, r.err)
		case tt.want != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.want)):
			t.Errorf("%q: got %v (%v)\nwant an error containing %q", tt.name, r.err, r.loc, tt.want)
		}
	}
}

// TestLocalZoneBounded: "Local" is tend's own zone from $TZ or
// /etc/localtime, read the same bounded way.
func TestLocalZoneBounded(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TZ": "/dev/zero"}, `"Local" (tend's own time zone, TZ="/dev/zero"): "/dev/zero" is not a time zone: /dev/zero: a character device`},
		{map[string]string{"TZ": ":Europe/Berlin"}, "Europe/Berlin"},
		{map[string]string{"TZ": ""}, "UTC"},
	}
	for _, tt := range tests {
		loc, err := loadZone("Local", func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = loc.String()
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("Local with %v: %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestDefaultLocationBounded: TZ=/dev/zero for a job without a timezone
// key is an error naming TZ.
func TestDefaultLocationBounded(t *testing.T) {
	_, err := DefaultLocation(func(k string) (string, bool) { return "/dev/zero", k == "TZ" })
	if err == nil || !strings.HasPrefix(err.Error(), `TZ="/dev/zero" is not a time zone: /dev/zero: a character device, not a regular file; accepted:`) {
		t.Errorf("TZ=/dev/zero: %v", err)
	}
}
