package opts

import (
	"strings"
	"testing"
)

func TestTwin(t *testing.T) {
	for long, want := range map[string]string{"grace": "TEND_GRACE", "pre-stop": "TEND_PRE_STOP", "remap-exit": "TEND_REMAP_EXIT", "verbose": "TEND_VERBOSE"} {
		if got, ok := Twin(long); !ok || got != want {
			t.Errorf("Twin(%q) = %q, %v; want %q", long, got, ok, want)
		}
	}
	for _, bad := range []string{"", "c", "v", "help", "nosuch"} {
		if got, ok := Twin(bad); ok {
			t.Errorf("Twin(%q) = %q, want none", bad, got)
		}
	}
	if n := Names(); len(n) != len(table) || n[0] != "config" {
		t.Errorf("Names() = %v", n)
	}
}

// CheckTwin applies Parse's own rules: what it accepts, Parse accepts from
// the variable, and the reverse.
func TestCheckTwin(t *testing.T) {
	cases := []struct {
		long, v string
		want    string // "" = valid, else a substring of the error
	}{
		{"grace", "20s", ""},
		{"grace", "soon", "not a duration; want DURATION"},
		{"grace", "-1s", "must be positive"},
		{"grace", "", "empty value"},
		{"remap-exit", "143:0,1:2", ""},
		{"remap-exit", "143:0,1", "missing ':'"},
		{"rewrite", "TERM:QUIT", ""},
		{"rewrite", "TERM:NOPE", "want FROM:TO"},
		{"hold", "yes", ""},
		{"hold", "maybe", "not a boolean"},
		{"forward", "child", ""},
		{"forward", "all", "unknown mode"},
		{"verbose", "2", ""},
		{"nosuch", "1", "unknown option"},
	}
	for _, c := range cases {
		err := CheckTwin(c.long, c.v)
		if c.want == "" {
			if err != nil {
				t.Errorf("CheckTwin(%s, %q) = %v, want nil", c.long, c.v, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckTwin(%s, %q) = %v, want %q", c.long, c.v, err, c.want)
		}
		if env, ok := Twin(c.long); ok && c.v != "" {
			_, perr := Parse(nil, func(k string) (string, bool) { return c.v, k == env })
			if (perr == nil) != (err == nil) {
				t.Errorf("%s=%q: CheckTwin says %v, Parse says %v", env, c.v, err, perr)
			}
		}
	}
}
