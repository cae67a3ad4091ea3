package config

import (
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/listen"
)

func TestListenNotifyWatchdog(t *testing.T) {
	const head = "[service.a]\ncommand = \"x\"\n"
	c, err := Parse("tend.toml", []byte(head+`listen = ["tcp://127.0.0.1:8080", { address = "unix:///run/a.sock", name = "admin" }, "udp://:53"]
ready = { notify = true, timeout = "5s" }
watchdog = "3s"
`), env())
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	want := []listen.Addr{
		{Network: listen.TCP, Host: "127.0.0.1", Port: 8080, Text: "tcp://127.0.0.1:8080"},
		{Network: listen.Unix, Path: "/run/a.sock", Name: "admin", Text: "unix:///run/a.sock"},
		{Network: listen.UDP, Port: 53, Text: "udp://:53"},
	}
	if len(s.Listen) != len(want) {
		t.Fatalf("listen %+v, want %+v", s.Listen, want)
	}
	for i := range want {
		if s.Listen[i] != want[i] {
			t.Errorf("listen[%d] = %+v, want %+v", i, s.Listen[i], want[i])
		}
	}
	if s.Ready == nil || s.Ready.Kind != ProbeNotify || s.Ready.Timeout != 5*time.Second || s.Ready.Interval != 0 {
		t.Errorf("ready %+v, want notify with timeout 5s and no interval", s.Ready)
	}
	if s.Watchdog != 3*time.Second {
		t.Errorf("watchdog %v, want 3s", s.Watchdog)
	}
	plan := c.Plan()
	for _, w := range []string{
		`listen = ["tcp://127.0.0.1:8080", { address = "unix:///run/a.sock", name = "admin" }, "udp://:53"]`,
		`ready = { notify = true, timeout = "5s" }`,
		`watchdog = "3s"`,
	} {
		if !strings.Contains(plan, "\n"+w+"\n") {
			t.Errorf("plan lacks %s:\n%s", w, plan)
		}
	}
	back, err := Parse("tend.toml", []byte(plan), env())
	if err != nil {
		t.Fatalf("plan does not load back: %v\n%s", err, plan)
	}
	if !back.Services[0].SameAs(s) {
		t.Errorf("plan loads back as %+v, want %+v", back.Services[0], s)
	}
}

func TestListenNotifyWatchdogErrors(t *testing.T) {
	const head = "[service.a]\ncommand = \"x\"\n"
	tests := []struct{ name, src, want string }{
		{"listen type", "listen = \"tcp://:80\"\n", `tend.toml:3: service.a.listen: expected an array of "tcp://HOST:PORT", "tcp6://[ADDR]:PORT", "udp://HOST:PORT", "unix:///path" strings or { address = "…", name = "…" } tables, got a string ("tcp://:80")`},
		{"listen empty", "listen = []\n", `tend.toml:3: service.a.listen: empty; accepted: an array of`},
		{"listen scheme", "listen = [\n  \"tcp://:80\",\n  \"http://:81\",\n]\n", `tend.toml:5: service.a.listen[1]: "http://:81": unknown scheme "http": want "tcp://HOST:PORT", "tcp6://[ADDR]:PORT", "udp://HOST:PORT" or "unix:///absolute/path"`},
		{"listen port", "listen = [\"tcp://:99999\"]\n", `tend.toml:3: service.a.listen[0]: "tcp://:99999": port "99999" is not a number from 0 to 65535`},
		{"listen relative unix", "listen = [\"unix://run/a\"]\n", `tend.toml:3: service.a.listen[0]: "unix://run/a": a unix socket needs an absolute path`},
		{"listen duplicate", "listen = [\"tcp://:80\", \"tcp://:80\"]\n", `tend.toml:3: service.a.listen[1]: "tcp://:80" is listen[0] again`},
		{"listen table key", "listen = [{ addr = \"tcp://:80\" }]\n", `tend.toml:3: service.a.listen[0].addr: unknown key; accepted: address, name`},
		{"listen table no address", "listen = [{ name = \"x\" }]\n", `tend.toml:3: service.a.listen[0]: a table needs address = "…"`},
		{"listen bad name", "listen = [{ address = \"tcp://:80\", name = \"a:b\" }]\n", `tend.toml:3: service.a.listen[0].name: "a:b": only printable ASCII without spaces or ':'`},
		{"listen entry type", "listen = [80]\n", `tend.toml:3: service.a.listen[0]: expected an address string or { address = "…", name = "…" }, got an integer (80)`},
		{"notify false", "ready = { notify = false }\n", `tend.toml:3: service.a.ready.notify: false is not accepted; accepted: notify = true`},
		{"notify type", "ready = { notify = 1 }\n", `tend.toml:3: service.a.ready.notify: expected true or false, got an integer (1)`},
		{"notify interval", "ready = { notify = true, interval = \"1s\" }\n", `tend.toml:3: service.a.ready.interval: not used with notify (tend acts on READY=1 as soon as it comes)`},
		{"notify and tcp", "ready = { notify = true, tcp = \":1\" }\n", `tend.toml:3: service.a.ready.tcp: a second probe kind (already notify)`},
		{"watchdog without notify", "ready = { tcp = \":1\" }\nwatchdog = \"1s\"\n", `tend.toml:4: service.a.watchdog: needs ready = { notify = true }`},
		{"watchdog no ready", "watchdog = \"1s\"\n", `tend.toml:3: service.a.watchdog: needs ready = { notify = true }`},
		{"watchdog duration", "ready = { notify = true }\nwatchdog = \"soon\"\n", `tend.toml:4: service.a.watchdog: "soon" is not a duration; accepted: a Go duration`},
		{"watchdog zero", "ready = { notify = true }\nwatchdog = \"0s\"\n", `tend.toml:4: service.a.watchdog: "0s" is not greater than zero`},
		{"watchdog oneshot", "oneshot = true\nwatchdog = \"1s\"\n", `tend.toml:4: service.a.watchdog: not allowed on a job or a oneshot`},
		{"fd under listen", "listen = [\"tcp://:80\", \"tcp://:81\"]\nready = { fd = 4 }\n", `tend.toml:4: service.a.ready.fd: 4 is taken by listen's sockets (fds 3-4); accepted: an fd from 5 to 255`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tend.toml", []byte(head+tt.src), env())
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got %s\nwant %s…", err, tt.want)
			}
		})
	}
}

func TestListenIndex(t *testing.T) {
	for _, tt := range []struct {
		msg, index, field, rest string
		ok                      bool
	}{
		{"listen[0]: bad address", "0", "", "bad address", true},
		{"listen[12].name: bad name", "12", ".name", "bad name", true},
		{"listen[x]: no", "", "", "", false},
		{"listen[]: no", "", "", "", false},
		{"listen[1].: no", "", "", "", false},
		{"listen[1] no", "", "", "", false},
		{"other: listen[1]: no", "", "", "", false},
	} {
		index, field, rest, ok := listenIndex(tt.msg)
		if ok != tt.ok || index != tt.index || field != tt.field || rest != tt.rest {
			t.Errorf("listenIndex(%q) = %q, %q, %q, %v", tt.msg, index, field, rest, ok)
		}
	}
}
