package supervise

import (
	"strings"
	"testing"

	"github.com/tend-sh/tend/internal/config"
)

// A user = that does not resolve is reported at the user = line, not at
// the [service.x] header; with an inline table, at its line too.
func TestFromConfigUserLine(t *testing.T) {
	tests := []struct{ toml, want string }{
		{"[service.a]\ncommand = \"x\"\n\nuser = \"no-such-user-tend-test\"\n", `tend.toml:4: service.a.user: no such user "no-such-user-tend-test"`},
		{"[service.a]\ncommand = \"x\"\nuser = \"root:\"\n", `tend.toml:3: service.a.user: invalid user spec "root:"`},
		{"[service]\na = { command = \"x\" }\nb = { command = \"x\", user = \":0\" }\n", `tend.toml:3: service.b.user: invalid user spec ":0"`},
	}
	for _, tt := range tests {
		c, err := config.Parse("tend.toml", []byte(tt.toml), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("%q: %v", tt.toml, err)
		}
		_, err = FromConfig(c, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: FromConfig = %v, want an error starting %q", tt.toml, err, tt.want)
		}
	}
}

// A reload rebuilds the services from the re-read file: one whose
// definition only moved (another service added above it) is the same and
// is not restarted; one with any key changed is not the same.
func TestSameAcrossReload(t *testing.T) {
	build := func(toml string) map[string]*Service {
		t.Helper()
		c, err := config.Parse("tend.toml", []byte(toml), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		svcs, err := FromConfig(c, []string{"PATH=/bin"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*Service{}
		for _, s := range svcs {
			m[s.Name] = s
		}
		return m
	}
	old := build("[service.web]\ncommand = \"web\"\nstop_timeout = \"3s\"\n")["web"]
	for _, tt := range []struct {
		toml string
		same bool
	}{
		{"[service.db]\ncommand = \"db\"\n\n[service.web]\ncommand = \"web\"\nstop_timeout = \"3s\"\n", true},
		{"[service.web]\ncommand = \"web\"\nstop_timeout = \"4s\"\n", false},
		{"[service.web]\ncommand = \"web\"\nstop_timeout = \"3s\"\nlog = \"inherit\"\n", false},
		{"[service.web]\ncommand = \"web --v\"\nstop_timeout = \"3s\"\n", false},
		{"[service.web]\ncommand = \"web\"\nstop_timeout = \"3s\"\nenv = { A = \"1\" }\n", false},
	} {
		if got := old.same(build(tt.toml)["web"]); got != tt.same {
			t.Errorf("%q: same = %v, want %v", tt.toml, got, tt.same)
		}
	}
}
