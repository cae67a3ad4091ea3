package schedule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A $ZONEINFO zip (looked up by Go itself for a name in no directory) is
// checked as a bounded regular file first: a named pipe or /dev/zero there
// is an error naming it, not an open that blocks forever. A real zip still
// serves names.
func TestZoneinfoZipBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "zones.zip")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.zip")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ zoneinfo, want string }{
		{fifo, `"Nowhere/Land": ZONEINFO zone archive ` + fifo + `: a named pipe (FIFO), not a regular file; accepted: a regular file of at most 10 MiB`},
		{zero, `"Nowhere/Land": ZONEINFO zone archive ` + zero + `: a character device`},
	}
	for _, tt := range tests {
		t.Setenv("ZONEINFO", tt.zoneinfo)
		done := make(chan error, 1)
		go func() { _, err := loadZone("Nowhere/Land"); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ZONEINFO=%s: %v, want an error containing %s", tt.zoneinfo, err, tt.want)
			}
		case <-time.After(30 * time.Second): // a hang guard: the answer takes microseconds
			t.Fatalf("ZONEINFO=%s: the lookup blocked", tt.zoneinfo)
		}
	}
	// A regular file is handed to Go, which reads the zip itself.
	junk := filepath.Join(dir, "junk.zip")
	if err := os.WriteFile(junk, []byte("not a zip"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZONEINFO", junk)
	if _, err := loadZone("Nowhere/Land"); err == nil || !strings.Contains(err.Error(), `"Nowhere/Land" is not a known time zone`) {
		t.Errorf("ZONEINFO=%s (a regular file): %v, want the unknown-zone error", junk, err)
	}
}
