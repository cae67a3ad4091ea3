package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(a, "noexec"), 0o644)
	write(filepath.Join(a, "both"), 0o644)
	write(filepath.Join(b, "both"), 0o755)
	write(filepath.Join(b, "run"), 0o755)
	if err := os.Mkdir(filepath.Join(b, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := a + ":" + b
	tests := []struct {
		name, want string
		code       int
	}{
		{"run", filepath.Join(b, "run"), 0},
		{"both", filepath.Join(b, "both"), 0}, // a later executable wins over an earlier non-executable
		{"noexec", "", CodeNotExecutable},
		{"adir", "", CodeNotExecutable},
		{"missing", "", CodeNotFound},
		{"", "", CodeNotFound},
		{filepath.Join(a, "noexec"), "", CodeNotExecutable},
		{filepath.Join(a, "missing"), "", CodeNotFound},
		{filepath.Join(b, "run"), filepath.Join(b, "run"), 0},
	}
	for _, tt := range tests {
		got, err := Lookup(tt.name, path)
		if tt.code == 0 {
			if err != nil || got != tt.want {
				t.Errorf("Lookup(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
			continue
		}
		var se *Error
		if !errors.As(err, &se) || se.Code != tt.code {
			t.Errorf("Lookup(%q) error = %v, want code %d", tt.name, err, tt.code)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	_, err := Lookup("no-such-cmd-xyz", t.TempDir())
	if want := `cannot start "no-such-cmd-xyz": command not found`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}
