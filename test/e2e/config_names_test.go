package e2e

import (
	"path/filepath"
	"testing"
)

// Scenario (issue 10, item 5): with -- CMD the command is the service
// "main", and it waits for every service of the file; a file that also
// defined [service.main] made CMD wait for itself forever (tend check
// called it valid, tend status showed two "main"). Now it is an error at
// the [service.main] line, from tend check given the command and from tend
// as PID 1, exit 2. Without a command "main" is an ordinary name. "tend"
// (the service of tend's own log lines) is refused in every file.
func TestConfigReservedNames(t *testing.T) {
	t.Parallel()
	needEnv(t)
	const mainErr = `:4: service.main: the name "main" is reserved for the command given after -- (the main service); rename this service` + "\n"
	const tendErr = `the name "tend" is reserved for tend's own messages in the log; choose another name` + "\n"
	cases := []struct {
		name, file, content string
		args                []string // after -c/-f FILE
		want                string   // after "tend: FILE", "" = valid
	}{
		{"main with a command", "tend.toml", "[service.db]\ncommand = \"/bin/true\"\n\n[service.main]\ncommand = \"/bin/true\"\n", []string{"--", "/bin/true"}, mainErr},
		{"main without a command", "tend.toml", "[service.db]\ncommand = \"/bin/true\"\n\n[service.main]\ncommand = \"/bin/true\"\n", nil, ""},
		{"tend", "tend.toml", "[service.db]\ncommand = \"/bin/true\"\n\n[service.tend]\ncommand = \"/bin/true\"\n", nil, ":4: service.tend: " + tendErr},
		{"tend in a Procfile", "Procfile", "web: /bin/true\ntend: /bin/true\n", nil, ":2: tend: " + tendErr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			cfgWriteFile(t, path, c.content)
			flag := "-c"
			if c.file == "Procfile" {
				flag = "-f"
			}
			_, stderr, code := runCheck(t, dir, append([]string{flag, c.file}, c.args...)...)
			if c.want == "" {
				if code != 0 || stderr != "" {
					t.Errorf("tend check %s %s %q: exit %d, stderr %q; want 0", flag, c.file, c.args, code, stderr)
				}
				return
			}
			if want := "tend: " + c.file + c.want; code != 2 || stderr != want {
				t.Errorf("tend check %s %s %q:\n got exit %d, stderr %q\nwant exit 2, stderr %q", flag, c.file, c.args, code, stderr, want)
			}
			r := startIn(t, t.TempDir(), opts{}, append([]string{flag, path}, c.args...)...)
			r.ExpectExit(2)
			if want := "tend: " + path + c.want; r.Stderr() != want {
				t.Errorf("tend %s %s %q: stderr %q, want %q", flag, path, c.args, r.Stderr(), want)
			}
		})
	}
}

// Scenario (issue 10, item 16): a user = that does not resolve is looked up
// after the file is parsed; the error used to name the [service.web] header
// line. It names the user = line now, from tend check and tend as PID 1.
func TestConfigUnknownUserLine(t *testing.T) {
	t.Parallel()
	needEnv(t)
	dir := t.TempDir()
	path := writeConfig(t, dir, "[service.web]\ncommand = \"/bin/true\"\nrestart = \"never\"\nuser = \"no-such-user-tend-e2e\"\n")
	const want = `:4: service.web.user: no such user "no-such-user-tend-e2e" in /etc/passwd` + "\n"
	if _, stderr, code := runCheck(t, dir, "-c", "tend.toml"); code != 2 || stderr != "tend: tend.toml"+want {
		t.Errorf("tend check: exit %d, stderr %q; want exit 2, stderr %q", code, stderr, "tend: tend.toml"+want)
	}
	r := startIn(t, t.TempDir(), opts{}, "-c", path)
	r.ExpectExit(2)
	if r.Stderr() != "tend: "+path+want {
		t.Errorf("tend -c: stderr %q, want %q", r.Stderr(), "tend: "+path+want)
	}
}
