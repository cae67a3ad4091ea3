package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env returns a Getenv over a fixed map.
func env(kv ...string) Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLoadFullExample(t *testing.T) {
	c, err := Load("testdata/full.toml", env("HOST", "db.local", "DATABASE_URL", "postgres://u@db/x?a=b c"))
	if err != nil {
		t.Fatal(err)
	}
	dir := mustAbs(t, "testdata")
	def := func(name string, line int) *Service {
		s := newService(name, line)
		s.File = "testdata/full.toml"
		return s
	}

	db := def("db", 5)
	db.Command = []string{"postgres", "-D", "/data"}
	db.User, db.UserLine = "postgres", 7
	db.Workdir = filepath.Join(dir, "data")
	db.Env = []string{"PGUSER=postgres", "PGPASSWORD=s3cr$t", "PGPORT=5432", "EMPTY=", "PGHOST=db.local", "LITERAL=$HOME and $HOME"}
	db.Ready = &Probe{Kind: "tcp", Address: "127.0.0.1:5432", Timeout: 20 * time.Second, Interval: 100 * time.Millisecond}

	migrate := def("migrate", 13)
	migrate.Command = []string{"migrate", "-path", "/migrations dir", "-database", "postgres://u@db/x?a=b c", "up"}
	migrate.Oneshot = true
	migrate.After = []string{"db"}

	web := def("web", 18)
	web.Command = []string{"/app/web"}
	web.After = []string{"migrate"}
	web.Restart = "always"
	web.SuccessCodes = []int{0, 3}
	web.BackoffInitial, web.BackoffMax = 200*time.Millisecond, time.Minute
	web.MaxRestarts, web.MaxRestartsWithin = 7, 2*time.Minute
	web.Critical = true
	web.StopSignal = syscall.SIGQUIT
	web.StopTimeout = 20 * time.Second
	web.Health = &Probe{Kind: "http", URL: "http://127.0.0.1:8080/healthz", Interval: 5 * time.Second, Timeout: time.Second, Failures: 2}
	web.Log = "inherit"

	worker := def("worker", 31)
	worker.Command = []string{"/app/worker", "--queue", "default"}
	worker.After = []string{"migrate"}
	worker.Ready = &Probe{Kind: "fd", FD: 3, Timeout: 5 * time.Second}
	worker.StopSignal = syscall.SIGINT

	cron := def("cron", 37)
	cron.Command = []string{"/app/cron"}
	cron.Workdir = "/srv"
	cron.Ready = &Probe{Kind: "file", Path: "/srv/run/ready", Timeout: 30 * time.Second, Interval: time.Second}
	cron.Health = &Probe{Kind: "exec", Exec: []string{"check", "--quick"}, Interval: 10 * time.Second, Timeout: 2 * time.Second, Failures: 1}
	cron.Restart = "never"

	want := &Config{
		File:          "testdata/full.toml",
		Grace:         15 * time.Second,
		LogFormat:     "json",
		LogTimestamps: true,
		Services:      []*Service{db, migrate, web, worker, cron},
		Files:         []string{"testdata/full.toml"},
	}
	if !reflect.DeepEqual(c, want) {
		for i := range max(len(c.Services), len(want.Services)) {
			if i < len(c.Services) && i < len(want.Services) && !reflect.DeepEqual(c.Services[i], want.Services[i]) {
				t.Errorf("service %d:\n got %+v\nwant %+v", i, *c.Services[i], *want.Services[i])
			}
		}
		t.Fatalf("got %+v\nwant %+v", *c, *want)
	}

	wantOrder := [][]string{{"db", "cron"}, {"migrate"}, {"web", "worker"}}
	if got := c.StartOrder(); !reflect.DeepEqual(got, wantOrder) {
		t.Errorf("StartOrder = %q, want %q", got, wantOrder)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("tend.toml", []byte("[service.a]\ncommand = \"app\"\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File: "tend.toml", Grace: 10 * time.Second, LogFormat: "text", Files: []string{"tend.toml"},
		Services: []*Service{{
			Name: "a", Line: 1, Command: []string{"app"},
			Restart: "on-failure", SuccessCodes: []int{0},
			BackoffInitial: 100 * time.Millisecond, BackoffMax: 30 * time.Second,
			MaxRestarts: 5, MaxRestartsWithin: time.Minute,
			StopSignal: syscall.SIGTERM, StopTimeout: 10 * time.Second, Update: "stop-first",
			File: "tend.toml",
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v %+v\nwant %+v %+v", *c, *c.Services[0], *want, *want.Services[0])
	}
	c, err = Parse("tend.toml", []byte(`
[service.r]
command = "x"
ready = { http = "http://h/" }
health = { tcp = ":80" }
`), env())
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if want := (&Probe{Kind: "http", URL: "http://h/", Timeout: 30 * time.Second, Interval: 100 * time.Millisecond}); !reflect.DeepEqual(s.Ready, want) {
		t.Errorf("ready = %+v, want %+v", s.Ready, want)
	}
	if want := (&Probe{Kind: "tcp", Address: ":80", Timeout: 2 * time.Second, Interval: 10 * time.Second, Failures: 3}); !reflect.DeepEqual(s.Health, want) {
		t.Errorf("health = %+v, want %+v", s.Health, want)
	}
}

// TestTOMLForms checks that dotted keys, [header] sub-tables and inline
// tables mean the same, and that services keep file order.
func TestTOMLForms(t *testing.T) {
	c, err := Parse("tend.toml", []byte(`
service.z.command = ["z"]
service.z.backoff.max = "1s"
service.z.backoff.initial = "1s"

[service."a.b"]
command = 'ab'

[service."a.b".ready]
tcp = "h:1"

[service.m]
command = "m"
max_restarts.count = 9
after = "z"
user = 1000
env.A = 1
env.B = true
`), env())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	if want := []string{"z", "a.b", "m"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("names = %q, want %q", names, want)
	}
	z, ab, m := c.Services[0], c.Services[1], c.Services[2]
	if z.BackoffInitial != time.Second || z.BackoffMax != time.Second || z.Line != 2 {
		t.Errorf("z = %+v", z)
	}
	if ab.Ready == nil || ab.Ready.Address != "h:1" || ab.Line != 6 {
		t.Errorf("a.b = %+v", ab)
	}
	if m.MaxRestarts != 9 || !reflect.DeepEqual(m.After, []string{"z"}) || m.User != "1000" || !reflect.DeepEqual(m.Env, []string{"A=1", "B=true"}) {
		t.Errorf("m = %+v", m)
	}
}

func TestErrors(t *testing.T) {
	svc := "[service.a]\ncommand = \"app\"\n" // lines 1-2; keys go on line 3
	tests := []struct {
		name, in, want string
	}{
		{"syntax", "grace = \"10s\nx = 1\n", `tend.toml:1: TOML syntax: basic strings cannot have new lines`},
		{"syntax later line", svc + "after = [\"x\",\n", `tend.toml:3: TOML syntax: array is incomplete`},
		{"no services", "grace = \"1s\"\n", `tend.toml: no services; define at least one [service.NAME] table`},
		{"empty service table", "[service]\n", `tend.toml:1: service: no services; define at least one [service.NAME] table`},
		{"service not a table", "service = 1\n", `tend.toml:1: service: expected a table of services ([service.NAME]), got an integer (1)`},
		{"array of tables", "[[service]]\ncommand = \"x\"\n", `tend.toml:1: service: expected a table of services ([service.NAME]), got an array of tables`},
		{"service is a value", "[service]\nweb = \"x\"\n", `tend.toml:2: service.web: expected a table ([service.web]), got a string ("x")`},
		{"unknown root key", "graec = \"1s\"\n" + svc, `tend.toml:1: graec: unknown key (did you mean grace?); accepted: crontab, grace, log_format, log_timestamps, service`},
		{"unknown service key", svc + "\n\nrestrat = \"never\"\n", `tend.toml:5: service.a.restrat: unknown key (did you mean restart?); accepted: after, backoff, command, cpu_max, critical, env, env_file, health, listen, log, max_restarts, memory_max, oneshot, overlap, pids_max, ready, replicas, restart, schedule, stop_signal, stop_timeout, success_codes, timeout, timezone, update, user, watchdog, workdir`},
		{"unknown key no suggestion", svc + "xyzzy = 1\n", `tend.toml:3: service.a.xyzzy: unknown key; accepted: after, backoff, command, cpu_max, critical, env, env_file, health, listen, log, max_restarts, memory_max, oneshot, overlap, pids_max, ready, replicas, restart, schedule, stop_signal, stop_timeout, success_codes, timeout, timezone, update, user, watchdog, workdir`},
		{"unknown ready key", svc + "ready = { tcp = \":1\", timout = \"1s\" }\n", `tend.toml:3: service.a.ready.timout: unknown key (did you mean timeout?); accepted: exec, fd, file, http, interval, notify, tcp, timeout`},
		{"unknown health key", svc + "[service.a.health]\nhttp = \"http://h\"\nfailure = 2\n", `tend.toml:5: service.a.health.failure: unknown key (did you mean failures?); accepted: exec, failures, http, interval, tcp, timeout`},
		{"failures on ready", svc + "ready = { tcp = \":1\", failures = 2 }\n", `tend.toml:3: service.a.ready.failures: unknown key; accepted: exec, fd, file, http, interval, notify, tcp, timeout`},
		{"unknown backoff key", svc + "backoff = { init = \"1s\" }\n", `tend.toml:3: service.a.backoff.init: unknown key; accepted: initial, max`},
		{"unknown max_restarts key", svc + "max_restarts.cnt = 1\n", `tend.toml:3: service.a.max_restarts.cnt: unknown key (did you mean count?); accepted: count, within`},
		{"restart policy", "\n\n\n\n\n\n\n\n\n\n\n[service.web]\ncommand = \"w\"\nrestart = \"sometimes\"\n", `tend.toml:14: service.web.restart: "sometimes" is not a restart policy; accepted: always, on-failure, never`},
		{"restart type", svc + "restart = false\n", `tend.toml:3: service.a.restart: expected one of always, on-failure, never, got a boolean (false)`},
		{"log_format", "log_format = \"xml\"\n" + svc, `tend.toml:1: log_format: "xml" is not a log format; accepted: text, json`},
		{"log mode", svc + "log = \"quiet\"\n", `tend.toml:3: service.a.log: "quiet" is not a log mode; accepted: prefixed, inherit`},
		{"log_timestamps type", "log_timestamps = \"yes\"\n" + svc, `tend.toml:1: log_timestamps: expected true or false, got a string ("yes")`},
		{"duration syntax", "grace = \"ten\"\n" + svc, `tend.toml:1: grace: "ten" is not a duration; accepted: a Go duration such as "500ms", "10s", "1m30s"`},
		{"duration zero", svc + "stop_timeout = \"0s\"\n", `tend.toml:3: service.a.stop_timeout: "0s" is not greater than zero; accepted: a Go duration such as "500ms", "10s", "1m30s"`},
		{"duration negative", svc + "backoff.max = \"-1s\"\n", `tend.toml:3: service.a.backoff.max: "-1s" is not greater than zero; accepted: a Go duration such as "500ms", "10s", "1m30s"`},
		{"duration type", "grace = 10\n" + svc, `tend.toml:1: grace: expected a Go duration such as "500ms", "10s", "1m30s", got an integer (10)`},
		{"duration float", "grace = 1.5\n" + svc, `tend.toml:1: grace: expected a Go duration such as "500ms", "10s", "1m30s", got a float (1.5)`},
		{"backoff order", svc + "backoff = { initial = \"1m\", max = \"1s\" }\n", `tend.toml:3: service.a.backoff: initial (1m0s) is greater than max (1s)`},
		{"backoff type", svc + "backoff = \"1s\"\n", `tend.toml:3: service.a.backoff: expected a table { initial, max }, got a string ("1s")`},
		{"max_restarts count", svc + "max_restarts = { count = 0 }\n", `tend.toml:3: service.a.max_restarts.count: 0 is out of range; accepted: a number of restarts >= 1`},
		{"signal name", svc + "stop_signal = \"QUITT\"\n", `tend.toml:3: service.a.stop_signal: "QUITT" is not a signal; accepted: a signal name such as TERM, SIGQUIT, or a number 1-64`},
		{"signal number", svc + "stop_signal = 65\n", `tend.toml:3: service.a.stop_signal: 65 is not a signal; accepted: a signal name such as TERM, SIGQUIT, or a number 1-64`},
		{"signal string number", svc + "stop_signal = \"0\"\n", `tend.toml:3: service.a.stop_signal: "0" is not a signal; accepted: a signal name such as TERM, SIGQUIT, or a number 1-64`},
		{"success code range", svc + "success_codes = [0, 256]\n", `tend.toml:3: service.a.success_codes[1]: 256 is out of range; accepted: an exit code 0-255`},
		{"success codes empty", svc + "success_codes = []\n", `tend.toml:3: service.a.success_codes: empty; accepted: an array of exit codes 0-255`},
		{"success codes type", svc + "success_codes = 0\n", `tend.toml:3: service.a.success_codes: expected an array of exit codes 0-255, got an integer (0)`},
		{"integer overflow", svc + "max_restarts.count = 99999999999999999999\n", `tend.toml:3: service.a.max_restarts.count: integer 99999999999999999999 is out of range`},
		{"ready no kind", svc + "ready = { timeout = \"1s\" }\n", `tend.toml:3: service.a.ready: no probe kind; accepted: exactly one of tcp, http, exec, file, fd, notify`},
		{"ready two kinds", svc + "ready = { tcp = \":1\", http = \"http://h\" }\n", `tend.toml:3: service.a.ready.http: a second probe kind (already tcp); accepted: exactly one of tcp, http, exec, file, fd, notify`},
		{"health file", svc + "health = { file = \"/x\" }\n", `tend.toml:3: service.a.health.file: unknown key; accepted: exec, failures, http, interval, tcp, timeout`},
		{"ready type", svc + "ready = \"tcp\"\n", `tend.toml:3: service.a.ready: expected a table { exec, fd, file, http, interval, notify, tcp, timeout }, got a string ("tcp")`},
		{"tcp address", svc + "ready.tcp = \"localhost\"\n", `tend.toml:3: service.a.ready.tcp: "localhost" has no :PORT; accepted: HOST:PORT, [IPv6]:PORT or :PORT`},
		{"tcp port", svc + "ready.tcp = \"h:99999\"\n", `tend.toml:3: service.a.ready.tcp: "h:99999" has no valid port (1-65535); accepted: HOST:PORT, [IPv6]:PORT or :PORT`},
		{"tcp ipv6", svc + "ready.tcp = \"::1:80\"\n", `tend.toml:3: service.a.ready.tcp: "::1:80" has a malformed host (an IPv6 address goes in brackets); accepted: HOST:PORT, [IPv6]:PORT or :PORT`},
		{"http url", svc + "health.http = \"127.0.0.1:8080/healthz\"\n", `tend.toml:3: service.a.health.http: "127.0.0.1:8080/healthz" is not an http URL; accepted: an http:// URL with a host`},
		{"https url", svc + "health.http = \"https://127.0.0.1/healthz\"\n", `tend.toml:3: service.a.health.http: "https://127.0.0.1/healthz": https probes are not supported; use exec with a client such as curl or wget`},
		{"fd range", svc + "ready.fd = 2\n", `tend.toml:3: service.a.ready.fd: 2 is out of range; accepted: a file descriptor number 3-255`},
		{"fd interval", svc + "ready = { fd = 3, interval = \"1s\" }\n", `tend.toml:3: service.a.ready.interval: not used with fd (tend reads the line as soon as it is written)`},
		{"exec empty", svc + "health.exec = []\n", `tend.toml:3: service.a.health.exec: empty; accepted: an array of words, or a string split like shell words`},
		{"health failures", svc + "health = { tcp = \":1\", failures = 0 }\n", `tend.toml:3: service.a.health.failures: 0 is out of range; accepted: a number of consecutive failures >= 1`},
		{"service name", "[service.\"a b\"]\ncommand = \"x\"\n", `tend.toml:1: service."a b": "a b" is not a service name; accepted: 1-64 characters of A-Z a-z 0-9 _ . -`},
		{"service name long", "[service." + strings.Repeat("x", 65) + "]\ncommand = \"x\"\n", `tend.toml:1: service.` + strings.Repeat("x", 65) + `: "` + strings.Repeat("x", 65) + `" is not a service name; accepted: 1-64 characters of A-Z a-z 0-9 _ . -`},
		{"command missing", "[service.a]\nuser = \"x\"\n", `tend.toml:1: service.a.command: missing; accepted: an array of words, or a string split like shell words`},
		{"command empty array", "[service.a]\ncommand = []\n", `tend.toml:2: service.a.command: empty; accepted: an array of words, or a string split like shell words`},
		{"command blank string", "[service.a]\ncommand = \"  \"\n", `tend.toml:2: service.a.command: empty; accepted: an array of words, or a string split like shell words`},
		{"command empty program", "[service.a]\ncommand = [\"\", \"x\"]\n", `tend.toml:2: service.a.command: the program name is empty`},
		{"command type", "[service.a]\ncommand = 1\n", `tend.toml:2: service.a.command: expected an array of words, or a string split like shell words, got an integer (1)`},
		{"command item type", "[service.a]\ncommand = [\n  \"x\",\n  2,\n]\n", `tend.toml:4: service.a.command[1]: expected a string, got an integer (2)`},
		{"command quote", "[service.a]\ncommand = \"sh -c 'echo hi\"\n", `tend.toml:2: service.a.command: unterminated single quote at offset 6`},
		{"oneshot always", svc + "oneshot = true\nrestart = \"always\"\n", `tend.toml:4: service.a.restart: "always" is not allowed with oneshot = true; accepted: on-failure, never`},
		{"oneshot ready", svc + "oneshot = true\nready.tcp = \":1\"\n", `tend.toml:4: service.a.ready: not allowed with oneshot = true: a oneshot is ready when it has finished successfully`},
		{"oneshot health", svc + "health.tcp = \":1\"\noneshot = true\n", `tend.toml:3: service.a.health: not allowed with oneshot = true`},
		{"oneshot type", svc + "oneshot = 1\n", `tend.toml:3: service.a.oneshot: expected true or false, got an integer (1)`},
		{"workdir empty", svc + "workdir = \"\"\n", `tend.toml:3: service.a.workdir: empty; accepted: a directory`},
		{"user type", svc + "user = [\"x\"]\n", `tend.toml:3: service.a.user: expected a string: a user name or number, optionally :GROUP, got an array`},
		{"env type", svc + "env = \"A=1\"\n", `tend.toml:3: service.a.env: expected a table of NAME = value, got a string ("A=1")`},
		{"env name", svc + "env = { \"A B\" = \"1\" }\n", `tend.toml:3: service.a.env."A B": "A B" is not a variable name; accepted: letters, digits, _ . - not starting with a digit`},
		{"env value", svc + "env = { A = 1.5 }\n", `tend.toml:3: service.a.env.A: expected a string, integer or boolean, got a float (1.5)`},
		{"env_file missing", svc + "env_file = \"/nonexistent/db.env\"\n", `tend.toml:3: service.a.env_file: cannot read "/nonexistent/db.env": open: no such file or directory`},
		{"undefined var", svc + "user = \"${APP_USER}\"\n", `tend.toml:3: service.a.user: ${APP_USER} is not set in tend's environment; write ${APP_USER:-default} for a fallback`},
		{"undefined var in command", "[service.a]\ncommand = [\"app\", \"--port=${PORT}\"]\n", `tend.toml:2: service.a.command[1]: ${PORT} is not set in tend's environment; write ${PORT:-default} for a fallback`},
		{"undefined var in duration", "grace = \"${GRACE}\"\n" + svc, `tend.toml:1: grace: ${GRACE} is not set in tend's environment; write ${GRACE:-default} for a fallback`},
		{"bad var ref", svc + "workdir = \"${1X}\"\n", `tend.toml:3: service.a.workdir: ${1X} is not a variable reference; accepted: ${NAME}, ${NAME:-default}, $$ for a literal $`},
		{"unterminated var", svc + "workdir = \"/x/${HOME\"\n", `tend.toml:3: service.a.workdir: unterminated ${ at "${HOME"; write $$ for a literal $`},
		{"after unknown", svc + "after = [\"dbb\"]\n[service.db]\ncommand = \"db\"\n", `tend.toml:3: service.a.after: unknown service "dbb"; accepted: a, db`},
		{"after twice", svc + "after = [\"b\", \"b\"]\n", `tend.toml:3: service.a.after: "b" is listed twice`},
		{"after type", svc + "after = 1\n", `tend.toml:3: service.a.after: expected an array of service names, got an integer (1)`},
		{"self cycle", svc + "after = [\"a\"]\n", `tend.toml:3: service.a.after: dependency cycle: a -> a`},
		{"cycle", "[service.x]\ncommand = \"x\"\n[service.a]\ncommand = \"a\"\nafter = [\"b\"]\n[service.b]\ncommand = \"b\"\nafter = [\"c\"]\n[service.c]\ncommand = \"c\"\nafter = [\"x\", \"a\"]\n",
			`tend.toml:5: service.a.after: dependency cycle: a -> b -> c -> a`},
		{"cycle found from later member", "[service.c]\ncommand = \"c\"\nafter = [\"a\"]\n[service.a]\ncommand = \"a\"\nafter = [\"b\"]\n[service.b]\ncommand = \"b\"\nafter = [\"a\"]\n",
			`tend.toml:6: service.a.after: dependency cycle: a -> b -> a`},
		{"duplicate key", svc + "user = \"a\"\nuser = \"b\"\n", `tend.toml:4: service.a.user: defined twice (first at line 3)`},
		{"duplicate table", svc + "[service.a]\n", `tend.toml:3: service.a: table defined twice (first at line 1)`},
		{"extend inline", "service.a = { command = \"x\" }\nservice.a.user = \"u\"\n", `tend.toml:2: service.a: cannot extend an inline table (defined at line 1)`},
		{"header after dotted", "service.a.command = \"x\"\n[service.a]\n", `tend.toml:2: service.a: table defined twice (first at line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("tend.toml", []byte(tt.in), env("HOME", "/root"))
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, not *Error", err)
			}
		})
	}
}

func TestEnvFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bad.env", "A=1\n\nnot a line\n")
	write("tend.toml", "[service.a]\ncommand = \"x\"\nenv_file = \"bad.env\"\n")
	_, err := Load(filepath.Join(dir, "tend.toml"), env())
	if want := filepath.Join(dir, "bad.env") + `:3: not a KEY=VALUE line: "not a line"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	write("tend.toml", "[service.a]\ncommand = \"x\"\nenv_file = \"missing.env\"\n")
	_, err = Load(filepath.Join(dir, "tend.toml"), env())
	if want := filepath.Join(dir, "tend.toml") + `:3: service.a.env_file: cannot read "` + filepath.Join(dir, "missing.env") + `": open: no such file or directory`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = Load(filepath.Join(dir, "nope.toml"), env())
	if want := filepath.Join(dir, "nope.toml") + `: open: no such file or directory`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestExpand(t *testing.T) {
	getenv := env("A", "alpha", "EMPTY", "", "SP", "a b")
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "alpha", ""},
		{"x${A}y${A}", "xalphayalpha", ""},
		{"${EMPTY}", "", ""},
		{"${EMPTY:-def}", "def", ""},
		{"${UNSET:-def}", "def", ""},
		{"${UNSET:-}", "", ""},
		{"${A:-def}", "alpha", ""},
		{"${UNSET:-a:-b}", "a:-b", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"$$$$", "$$", ""},
		{"$A $HOME $", "$A $HOME $", ""},
		{"a$", "a$", ""},
		{"${UNSET}", "", "${UNSET} is not set in tend's environment; write ${UNSET:-default} for a fallback"},
		{"${}", "", "${} is not a variable reference; accepted: ${NAME}, ${NAME:-default}, $$ for a literal $"},
		{"${A-x}", "", "${A-x} is not a variable reference; accepted: ${NAME}, ${NAME:-default}, $$ for a literal $"},
		{"${A", "", `unterminated ${ at "${A"; write $$ for a literal $`},
	}
	for _, tt := range tests {
		got, msg := expand(tt.in, getenv)
		if got != tt.want || msg != tt.err {
			t.Errorf("expand(%q) = %q, %q; want %q, %q", tt.in, got, msg, tt.want, tt.err)
		}
	}

	// A command string is split before expansion: a value with spaces stays one word.
	c, err := Parse("tend.toml", []byte("[service.a]\ncommand = \"echo ${SP} '${A}' $${A}\"\n"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"echo", "a b", "alpha", "${A}"}; !reflect.DeepEqual(c.Services[0].Command, want) {
		t.Errorf("command = %q, want %q", c.Services[0].Command, want)
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "# comment\n\n  A=1  \nexport B = two words\nexport\tC='single $x'\nD=\"double # not a comment\"\r\nE=\nF=a=b\nA=3\nexported=x\nG.H-I=\"\"\n"
	got, err := ParseEnvFile("x.env", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=3", "B=two words", "C=single $x", "D=double # not a comment", "E=", "F=a=b", "exported=x", "G.H-I="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	errs := []struct{ in, want string }{
		{"A=1\nB\n", `x.env:2: not a KEY=VALUE line: "B"`},
		{"=1\n", `x.env:1: "" is not a variable name; accepted: letters, digits, _ . - not starting with a digit`},
		{"1A=1\n", `x.env:1: "1A" is not a variable name; accepted: letters, digits, _ . - not starting with a digit`},
		{"A B=1\n", `x.env:1: "A B" is not a variable name; accepted: letters, digits, _ . - not starting with a digit`},
		{"A='x\n", `x.env:1: A: unterminated quote ('...); a value is on one line`},
		{"A=\"x'\n", `x.env:1: A: unterminated quote ("...); a value is on one line`},
		{"A=\"\n", `x.env:1: A: unterminated quote ("...); a value is on one line`},
		{"A=x\x00y\n", `x.env:1: A: a value cannot contain a NUL byte`},
	}
	for _, tt := range errs {
		_, err := ParseEnvFile("x.env", []byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseEnvFile(%q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestStartOrder(t *testing.T) {
	c, err := Parse("tend.toml", []byte(`
[service.web]
command = "w"
after = ["api", "cache"]
[service.api]
command = "a"
after = ["db"]
[service.db]
command = "d"
[service.cache]
command = "c"
[service.lone]
command = "l"
[service.init]
command = "i"
oneshot = true
after = ["db", "cache"]
`), env())
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"db", "cache", "lone"}, {"api", "init"}, {"web"}}
	if got := c.StartOrder(); !reflect.DeepEqual(got, want) {
		t.Errorf("StartOrder = %q, want %q", got, want)
	}
}

func TestProcfile(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "Procfile")
	if err := os.WriteFile(pf, []byte("# processes\n\nweb: bundle exec puma -p ${PORT:-5000}\nworker:   ./worker --queue 'a b'\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadProcfile(pf, env())
	if err != nil {
		t.Fatal(err)
	}
	web := newService("web", 3)
	web.Command = []string{"bundle", "exec", "puma", "-p", "5000"}
	web.Restart, web.Critical = "never", true
	worker := newService("worker", 4)
	worker.Command = []string{"./worker", "--queue", "a b"}
	worker.Restart, worker.Critical = "never", true
	web.File, worker.File = pf, pf
	want := &Config{File: pf, Grace: DefaultGrace, LogFormat: "text", Services: []*Service{web, worker}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	if got := c.StartOrder(); !reflect.DeepEqual(got, [][]string{{"web", "worker"}}) {
		t.Errorf("StartOrder = %q", got)
	}

	// .env beside it goes into every service.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("A=1\nB='x y'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = LoadProcfile(pf, env())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Services {
		if !reflect.DeepEqual(s.Env, []string{"A=1", "B=x y"}) {
			t.Errorf("%s env = %q", s.Name, s.Env)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("A=1\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadProcfile(pf, env())
	if want := filepath.Join(dir, ".env") + `:2: not a KEY=VALUE line: "bad"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = LoadProcfile(filepath.Join(dir, "nope"), env())
	if want := filepath.Join(dir, "nope") + `: open: no such file or directory`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}

	errs := []struct{ in, want string }{
		{"web: a\n\nweb: b\n", `Procfile:3: web: defined twice (first at line 1)`},
		{"web a\n", `Procfile:1: not a "name: command" line: "web a"`},
		{"w b: a\n", `Procfile:1: "w b" is not a service name; accepted: 1-64 characters of A-Z a-z 0-9 _ . -`},
		{": a\n", `Procfile:1: "" is not a service name; accepted: 1-64 characters of A-Z a-z 0-9 _ . -`},
		{"web:\n", `Procfile:1: web: empty command`},
		{"web: ''\n", `Procfile:1: web: the program name is empty`},
		{"web: echo 'hi\n", `Procfile:1: web: unterminated single quote at offset 5`},
		{"web: app $PORT ${PORT}\n", `Procfile:1: web: ${PORT} is not set in tend's environment; write ${PORT:-default} for a fallback`},
		{"a: x\nweb: \xff\n", `Procfile:2: not valid UTF-8`},
		{"# nothing\n\n", `Procfile: no services; write one "name: command" line per service`},
	}
	for _, tt := range errs {
		_, err := parseProcfile("Procfile", []byte(tt.in), nil, env())
		if err == nil || err.Error() != tt.want {
			t.Errorf("parseProcfile(%q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestDiff(t *testing.T) {
	parse := func(s string) *Config {
		t.Helper()
		c, err := Parse("tend.toml", []byte(s), env())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(`
[service.a]
command = "a"
[service.b]
command = "b"
[service.c]
command = "c"
ready = { tcp = ":1" }
[service.d]
command = "d"
`)
	new := parse(`
[service.e]
command = "e"

[service.d]
command = ["d"]
stop_signal = "TERM"    # the default: not a change
[service.c]
command = "c"
ready = { tcp = ":2" }
[service.a]
command = "a"
restart = "never"
`)
	added, removed, changed := Diff(old, new)
	if !reflect.DeepEqual(added, []string{"e"}) || !reflect.DeepEqual(removed, []string{"b"}) || !reflect.DeepEqual(changed, []string{"c", "a"}) {
		t.Errorf("Diff = %q, %q, %q", added, removed, changed)
	}
	added, removed, changed = Diff(old, old)
	if added != nil || removed != nil || changed != nil {
		t.Errorf("Diff(old, old) = %q, %q, %q", added, removed, changed)
	}
}

// TestPlanRoundTrip checks that Plan shows every setting and reads back to
// the same configuration.
func TestPlanRoundTrip(t *testing.T) {
	c, err := Load("testdata/full.toml", env("HOST", "h", "DATABASE_URL", "$x"))
	if err != nil {
		t.Fatal(err)
	}
	plan := c.Plan()
	for _, want := range []string{
		"# start order:\n#   1. db, cron\n#   2. migrate\n#   3. web, worker\n",
		"[service.web]  # testdata/full.toml:18\n",
		`stop_signal = "SIGQUIT"`,
		`max_restarts = { count = 5, within = "1m0s" }`,
		`ready = { fd = 3, timeout = "5s" }`,
		`command = ["migrate", "-path", "/migrations dir", "-database", "$$x", "up"]`,
		`LITERAL = "$$HOME and $$HOME"`,
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	back, err := Parse("plan.toml", []byte(plan), env())
	if err != nil {
		t.Fatalf("plan does not parse: %v\n%s", err, plan)
	}
	if a, r, ch := Diff(c, back); a != nil || r != nil || ch != nil {
		t.Errorf("plan round trip differs: %q %q %q\n%s", a, r, ch, plan)
	}
	if back.Grace != c.Grace || back.LogFormat != c.LogFormat || back.LogTimestamps != c.LogTimestamps {
		t.Errorf("globals differ: %+v vs %+v", back, c)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{"f", 3, "k", "m"}, "f:3: k: m"},
		{Error{"f", 0, "k", "m"}, "f: k: m"},
		{Error{"f", 3, "", "m"}, "f:3: m"},
		{Error{"", 0, "k", "m"}, "k: m"},
		{Error{"", 0, "", "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

// backoff.initial may be zero (restart at once); other durations may not.
func TestZeroBackoff(t *testing.T) {
	c, err := Parse("t.toml", []byte("[service.a]\ncommand = \"x\"\nbackoff = { initial = \"0s\", max = \"1s\" }\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Services[0].BackoffInitial != 0 {
		t.Errorf("initial = %v, want 0", c.Services[0].BackoffInitial)
	}
	_, err = Parse("t.toml", []byte("[service.a]\ncommand = \"x\"\nbackoff = { initial = \"0s\", max = \"0s\" }\n"), nil)
	if want := `t.toml:3: service.a.backoff.max: "0s" is not greater than zero; accepted: a Go duration such as "500ms", "10s", "1m30s"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// Every file tend reads must be a regular file of at most 4 MiB: a FIFO
// (which would block the read, and before O_NONBLOCK the open), a device
// (/dev/zero would fill memory), a directory or an oversized file is an
// error naming the file and what is accepted, returned at once.
func TestFilesNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.env")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 4<<20+1); err != nil {
		t.Fatal(err)
	}
	const acc = "; accepted: a regular file of at most 4 MiB"
	toml := filepath.Join(dir, "tend.toml")
	withEnvFile := func(p string) func() error {
		return func() error {
			if err := os.WriteFile(toml, []byte("[service.a]\ncommand = \"x\"\nenv_file = "+tomlQuote(p)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(toml, env())
			return err
		}
	}
	pdir := filepath.Join(dir, "proc")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	procfile := filepath.Join(pdir, "Procfile")
	if err := os.WriteFile(procfile, []byte("web: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dotenv := filepath.Join(pdir, ".env")
	if err := syscall.Mkfifo(dotenv, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(procfile+".toml", []byte("[service.b]\ncommand = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		load func() error
		want string
	}{
		{"env_file FIFO", withEnvFile(fifo), toml + `:3: service.a.env_file: cannot read "` + fifo + `": a named pipe (FIFO), not a regular file` + acc},
		{"env_file /dev/zero", withEnvFile("/dev/zero"), toml + `:3: service.a.env_file: cannot read "/dev/zero": a character device, not a regular file` + acc},
		{"env_file directory", withEnvFile(dir), toml + `:3: service.a.env_file: cannot read "` + dir + `": a directory, not a regular file` + acc},
		{"env_file too large", withEnvFile(big), toml + `:3: service.a.env_file: cannot read "` + big + `": 4194305 bytes, larger than 4 MiB` + acc},
		{"config FIFO", func() error { _, err := Load(fifo, env()); return err }, fifo + `: a named pipe (FIFO), not a regular file` + acc},
		{"config /dev/zero", func() error { _, err := Load("/dev/zero", env()); return err }, `/dev/zero: a character device, not a regular file` + acc},
		{"Procfile FIFO", func() error { _, err := LoadProcfile(fifo, env()); return err }, fifo + `: a named pipe (FIFO), not a regular file` + acc},
		{"Procfile's .env FIFO", func() error { _, err := LoadProcfile(procfile, env()); return err }, dotenv + `: a named pipe (FIFO), not a regular file` + acc},
		{"crontab FIFO", func() error { _, err := LoadCrontab(fifo, env()); return err }, fifo + `: crontab: a named pipe (FIFO), not a regular file` + acc},
		{"crontab /dev/zero", func() error { _, err := LoadSet(nil, []string{"/dev/zero"}, env()); return err }, `/dev/zero: crontab: a character device, not a regular file` + acc},
		{"FIFO in a set", func() error { _, err := LoadSet([]string{procfile + ".toml", fifo}, nil, env()); return err }, fifo + `: a named pipe (FIFO), not a regular file` + acc},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() { done <- tt.load() }()
		select {
		case err := <-done:
			if err == nil || err.Error() != tt.want {
				t.Errorf("%s: got %v\nwant %s", tt.name, err, tt.want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: blocked", tt.name)
		}
	}
}

// "tend" names tend's own log lines: no file may define it. A name the
// caller reserves (the main service's "main" with -- CMD) is an error at
// that service's header line.
func TestReservedNames(t *testing.T) {
	const msg = `the name "tend" is reserved for tend's own messages in the log; choose another name`
	_, err := Parse("tend.toml", []byte("[service.a]\ncommand = \"x\"\n\n[service.tend]\ncommand = \"x\"\n"), env())
	if want := "tend.toml:4: service.tend: " + msg; err == nil || err.Error() != want {
		t.Errorf("[service.tend]: got %v, want %s", err, want)
	}
	_, err = parseProcfile("Procfile", []byte("web: x\ntend: y\n"), nil, env())
	if want := "Procfile:2: tend: " + msg; err == nil || err.Error() != want {
		t.Errorf("Procfile tend: got %v, want %s", err, want)
	}
	c, err := Parse("tend.toml", []byte("[service.a]\ncommand = \"x\"\n\n[service.main]\ncommand = \"x\"\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	err = c.Reserve("main", "the command given after --")
	if want := `tend.toml:4: service.main: the name "main" is reserved for the command given after --; rename this service`; err == nil || err.Error() != want {
		t.Errorf("Reserve(main): got %v, want %s", err, want)
	}
	if err := c.Reserve("other", "x"); err != nil {
		t.Errorf("Reserve(other) = %v, want nil", err)
	}
}
