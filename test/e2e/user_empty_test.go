package e2e

import (
	"strings"
	"testing"
	"time"
)

// Scenario (issue 10, item 9): an empty user — `--user "$APP_USER"` or
// TEND_USER=$APP_USER in an ENTRYPOINT with the variable unset — used to
// run the command as root. It fails closed now, like an empty user in a
// config file: exit 2, the command never runs. So do a user or group left
// empty around the colon.
func TestUserEmpty(t *testing.T) {
	t.Parallel()
	const empty = `: empty (an unset variable?); tend never falls back to running as its own user; want USER[:GROUP]`
	cases := []struct {
		name string
		env  []string
		args []string // before -- testprog id
		want string   // tend's stderr, after "tend: "
	}{
		{"--user empty", nil, []string{"--user", ""}, `invalid --user ""` + empty},
		{"--user= empty", nil, []string{"--user="}, `invalid --user ""` + empty},
		{"TEND_USER empty", []string{"TEND_USER="}, nil, `invalid TEND_USER=""` + empty},
		{"empty group", nil, []string{"--user", "nobody:"}, `--user: invalid user spec "nobody:": want USER[:GROUP], each a name or a number`},
		{"empty user", nil, []string{"--user", ":65534"}, `--user: invalid user spec ":65534": want USER[:GROUP], each a name or a number`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{}, c.args...), "--", testprog, "id")
			r := start(t, opts{Env: c.env, Timeout: 10 * time.Second}, args...)
			r.ExpectExit(2)
			if out := r.Stdout(); out != "" {
				t.Errorf("the command ran (as %s); it must not run at all", strings.TrimSpace(out))
			}
			if first, _, _ := strings.Cut(r.Stderr(), "\n"); first != "tend: "+c.want {
				t.Errorf("stderr starts %q, want %q", first, "tend: "+c.want)
			}
		})
	}
}
