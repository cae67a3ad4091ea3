package config

import (
	"strings"
	"testing"
	"time"
)

func TestJobKeys(t *testing.T) {
	c, err := Parse("tend.toml", []byte(`
[service.web]
command = "web"

[service.backup]
command = "backup"
schedule = "0 30 2 * * *"
timezone = "Europe/Berlin"
overlap = "queue"
timeout = "10m"
after = ["web"]
critical = true

[service.tick]
command = "tick"
schedule = "@every 1s"
`), env("TZ", "America/New_York"))
	if err != nil {
		t.Fatal(err)
	}
	b, tick := c.service("backup"), c.service("tick")
	if !b.IsJob() || b.Schedule != "0 30 2 * * *" || b.Timezone != "Europe/Berlin" || b.Overlap != OverlapQueue || b.Timeout != 10*time.Minute || b.Restart != "never" || !b.Critical {
		t.Errorf("backup = %+v", *b)
	}
	if !tick.IsJob() || tick.Timezone != "America/New_York" || tick.Overlap != OverlapSkip || tick.Timeout != 0 {
		t.Errorf("tick (timezone from TZ, defaults) = %+v", *tick)
	}
	if c.service("web").IsJob() {
		t.Error("web is not a job")
	}
	// The plan loads back to the same configuration.
	back, err := Parse("plan.toml", []byte(c.Plan()), env())
	if err != nil {
		t.Fatalf("plan does not load back: %v\n%s", err, c.Plan())
	}
	if got := back.service("tick"); got.Timezone != "America/New_York" || got.Schedule != "@every 1s" {
		t.Errorf("plan round trip: tick = %+v", *got)
	}
	if _, _, changed := Diff(c, back); len(changed) != 0 {
		t.Errorf("plan round trip changed %v\n%s", changed, c.Plan())
	}

	c, err = Parse("tend.toml", []byte("[service.j]\ncommand = \"j\"\nschedule = \"@daily\"\n"), env())
	if err != nil || c.Services[0].Timezone != "UTC" {
		t.Errorf("no TZ, no timezone: %v %+v", err, c)
	}
}

func TestJobErrors(t *testing.T) {
	job := "[service.j]\ncommand = \"j\"\nschedule = \"*/5 * * * *\"\n" // keys go on line 4
	tests := []struct{ name, in, want string }{
		{"bad spec", "[service.j]\ncommand = \"j\"\nschedule = \"*/5 * * *\"\n",
			`tend.toml:3: service.j.schedule: "*/5 * * *" is not a schedule (expected 5 to 6 fields, found 4: [*/5 * * *]); accepted: 5 fields "MIN HOUR DOM MON DOW", 6 with a leading seconds field, 7 with seconds and a trailing year, @yearly, @monthly, @weekly, @daily, @hourly, or "@every DURATION"`},
		{"never fires", "[service.j]\ncommand = \"j\"\nschedule = \"0 0 30 2 *\"\n",
			`tend.toml:3: service.j.schedule: "0 0 30 2 *" never fires: no time matches it within 5 years (e.g. 30 February)`},
		{"empty spec", "[service.j]\ncommand = \"j\"\nschedule = \"\"\n", `tend.toml:3: service.j.schedule: empty; accepted: 5 fields`},
		{"bad every", "[service.j]\ncommand = \"j\"\nschedule = \"@every 100ms\"\n", `tend.toml:3: service.j.schedule: @every "100ms": want a duration of whole seconds, at least 1s`},
		{"unknown zone", job + "timezone = \"Europe/Atlantis\"\n", `tend.toml:4: service.j.timezone: "Europe/Atlantis" is not a known time zone; accepted: an IANA name such as "Europe/Berlin" or "UTC"`},
		{"zone from /dev/zero", job + "timezone = \"/dev/zero\"\n", `tend.toml:4: service.j.timezone: "/dev/zero": zone file /dev/zero: a character device, not a regular file; accepted: a regular file of at most 10 MiB`},
		{"zone not TZif", job + "timezone = \"/etc/hostname\"\n", `tend.toml:4: service.j.timezone: "/etc/hostname": /etc/hostname is not a zone file`},
		{"bad overlap", job + "overlap = \"parallel\"\n", `tend.toml:4: service.j.overlap: "parallel" is not an overlap policy; accepted: skip, queue`},
		{"bad timeout", job + "timeout = \"0s\"\n", `tend.toml:4: service.j.timeout: "0s" is not greater than zero`},
		{"oneshot", job + "oneshot = true\n", `tend.toml:4: service.j.oneshot: not allowed with schedule: a job runs to completion at each scheduled time; remove oneshot (or schedule)`},
		{"restart", job + "restart = \"never\"\n", `tend.toml:4: service.j.restart: not allowed with schedule: a failed run is not restarted, the next scheduled time is the retry; remove restart`},
		{"ready", job + "ready = { tcp = \":80\" }\n", `tend.toml:4: service.j.ready: not allowed with schedule`},
		{"health", job + "health = { tcp = \":80\" }\n", `tend.toml:4: service.j.health: not allowed with schedule`},
		{"timezone without schedule", "[service.j]\ncommand = \"j\"\ntimezone = \"UTC\"\n", `tend.toml:3: service.j.timezone: only allowed on a job; add schedule = "SPEC"`},
		{"overlap without schedule", "[service.j]\ncommand = \"j\"\noverlap = \"skip\"\n", `tend.toml:3: service.j.overlap: only allowed on a job`},
		{"timeout without schedule", "[service.j]\ncommand = \"j\"\ntimeout = \"1s\"\n", `tend.toml:3: service.j.timeout: only allowed on a job`},
		{"after a job", job + "[service.web]\ncommand = \"web\"\nafter = [\"j\"]\n",
			`tend.toml:6: service.web.after: "j" is a job (it has a schedule): nothing can wait for a job; accepted: services without schedule`},
		{"TZ unknown", "[service.j]\ncommand = \"j\"\nschedule = \"@hourly\"\n", `tend.toml:3: service.j.schedule: no timezone key, and TZ="Moon/Base" is not a known time zone`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tend.toml", []byte(tt.in), env("TZ", map[bool]string{true: "Moon/Base", false: ""}[tt.name == "TZ unknown"]))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n got %v\nwant %s...", err, tt.want)
			}
		})
	}
}
