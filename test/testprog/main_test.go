package main

import (
	"syscall"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"1d": 24 * time.Hour, "0.5d": 12 * time.Hour, "3": 3 * time.Second,
		"1.5": 1500 * time.Millisecond, "250ms": 250 * time.Millisecond, "1h": time.Hour, "0": 0,
	}
	for in, want := range good {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1", "-1s", "xd", "1y"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q): want error", in)
		}
	}
}

func TestParseSignal(t *testing.T) {
	good := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL, "usr1": syscall.SIGUSR1, "9": syscall.SIGKILL}
	for in, want := range good {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "NOPE", "SIG"} {
		if _, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q): want error", in)
		}
	}
	if n := sigName(syscall.SIGWINCH); n != "SIGWINCH" {
		t.Errorf("sigName(SIGWINCH) = %q", n)
	}
}
