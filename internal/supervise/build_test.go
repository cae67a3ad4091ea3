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
