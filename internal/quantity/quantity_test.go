package quantity

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  string // substring of the error; "" = no error
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"100B", 100, ""},
		{"1K", 1000, ""},
		{"1k", 1000, ""},
		{"1KB", 1000, ""},
		{"1Ki", 1024, ""},
		{"1KiB", 1024, ""},
		{"50MB", 50_000_000, ""},
		{"50M", 50_000_000, ""},
		{"64Mi", 64 << 20, ""},
		{"64MiB", 64 << 20, ""},
		{"1.5Gi", 3 << 29, ""},
		{"2G", 2_000_000_000, ""},
		{"1Ti", 1 << 40, ""},
		{"1E", 1e18, ""},
		{"7Ei", 7 << 60, ""},
		{"8Ei", 0, "too large"},
		{"0.5", 0, "whole number of bytes"},
		{"1.0001K", 0, "whole number of bytes"},
		{"", 0, "empty"},
		{"MB", 0, "invalid"},
		{"-1M", 0, "invalid"},
		{"+1M", 0, "invalid"},
		{"1 MB", 1_000_000, ""},
		{"1mb", 0, "invalid"},
		{"1Mb", 0, "invalid"},
		{"ten", 0, "invalid"},
		{".5Ki", 512, ""},
		{"5.", 5, ""},
		{"0.000000001G", 1, ""},
		{"1.10Ki", 0, "whole number of bytes"},
		{"1.1111111111111111111111Ki", 0, "whole number of bytes"},
		{"9223372036854775807", 9223372036854775807, ""},
		{"9223372036854775808", 0, "too large"},
		{"8191.999999999999999999Pi", 0, "whole number of bytes"},
		{"8191.9990234375Pi", 9223370937343148032, ""},
		{".", 0, "invalid"},
		{"1e6", 1_000_000, ""},
		{"5E3", 5000, ""},
		{"1.5e3", 1500, ""},
		{"1e", 0, "invalid"},
		{"2E", 2e18, ""},
		{"1e3Mi", 0, "invalid"},
		{"1e-3", 0, "invalid"},
		{"1e+3", 0, "invalid"},
		{"1e0.5", 0, "invalid"},
		{"1e19", 0, "too large"},
		{"1.5e0", 0, "whole number of bytes"},
		{"1..2M", 0, "invalid"},
		{"99999999999999999999", 0, "too large"},
	} {
		got, err := Parse(tt.in)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tt.in, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Parse(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.err)
		case tt.err == "" && got != tt.want:
			t.Errorf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "Ki") && !strings.Contains(err.Error(), "too large") {
			t.Errorf("Parse(%q): the error does not say what is accepted: %v", tt.in, err)
		}
	}
}

func TestValue(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want int64
		ok   bool
	}{
		{"1Mi", 1 << 20, true},
		{int64(4096), 4096, true},
		{int64(-1), 0, false},
		{float64(10), 10, true},
		{float64(1.5), 0, false},
		{true, 0, false},
		{[]any{"1M"}, 0, false},
	} {
		got, err := Value(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Value(%#v) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 999, 1000, 1024, 1536, 50_000_000, 64 << 20, 3 << 29, 1 << 62, 1e18, 1_000_001} {
		s := Format(n)
		got, err := Parse(s)
		if err != nil || got != n {
			t.Errorf("Parse(Format(%d) = %q) = %d, %v", n, s, got, err)
		}
	}
	for n, want := range map[int64]string{64 << 20: "64Mi", 50_000_000: "50M", 1536: "1536", 3 << 29: "1536Mi", 2048: "2Ki"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1Mi", "50MB", "1.5Gi", "0", "9E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d < 0", s, n)
		}
		if m, err := Parse(Format(n)); err != nil || m != n {
			t.Fatalf("round trip of %d (from %q): %d, %v", n, s, m, err)
		}
	})
}
