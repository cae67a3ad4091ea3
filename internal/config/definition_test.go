package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSameAsEveryKey: a reload restarts a service when any setting of its
// definition changed, a field added to Service included, and not when
// only where it is written moved.
func TestSameAsEveryKey(t *testing.T) {
	base := func() *Service {
		return &Service{Name: "web", Line: 3, File: "a.toml", Command: []string{"web"}}
	}
	positions := map[string]bool{"File": true, "Line": true, "UserLine": true}
	typ := reflect.TypeFor[Service]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			a, b := base(), base()
			v := reflect.ValueOf(b).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "x")
			case reflect.Int, reflect.Int64:
				v.SetInt(v.Int() + 7)
			case reflect.Bool:
				v.SetBool(!v.Bool())
			case reflect.Float64:
				v.SetFloat(v.Float() + 0.5)
			case reflect.Slice:
				v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
			case reflect.Pointer:
				v.Set(reflect.New(v.Type().Elem()))
			default:
				t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, v.Kind())
			}
			if got, want := a.SameAs(b), positions[f.Name]; got != want {
				t.Errorf("%s changed: SameAs = %v, want %v", f.Name, got, want)
			}
		})
	}
}

// TestPlanCoversEveryKey: `tend check` shows every key a service accepts
// (servicePlan has one entry per key of serviceKeys), and a plan of a
// service with every key set names each.
func TestPlanCoversEveryKey(t *testing.T) {
	var planned []string
	for _, k := range servicePlan {
		planned = append(planned, k.key)
	}
	if got := slices.Sorted(slices.Values(planned)); !slices.Equal(got, serviceKeys) {
		t.Errorf("plan keys %q, accepted keys %q", got, serviceKeys)
	}
	src := `[service.db]
command = "db"
user = "0"
workdir = "/"
ready = { notify = true }
listen = ["tcp://127.0.0.1:5432", { address = "unix:///run/db.sock", name = "local" }]
watchdog = "30s"
health = { exec = ["true"] }
oneshot = false
restart = "always"
success_codes = [0, 3]
backoff = { initial = "1s", max = "2s" }
max_restarts = { count = 2, within = "1m" }
critical = true
stop_signal = "QUIT"
stop_timeout = "3s"
log = "inherit"
memory_max = "64Mi"
cpu_max = 0.5
pids_max = 100
env = { A = "1" }
replicas = 2
update = "start-first"

[service.job]
command = "j"
after = "db"
schedule = "@daily"
timezone = "UTC"
overlap = "queue"
timeout = "1m"

[service.logged]
command = "l"
log = { file = "/var/log/app/l.log", max_size = "50MB", max_files = 3, stdout = true }
`
	c, err := Parse("tend.toml", []byte(src), env())
	if err != nil {
		t.Fatal(err)
	}
	plan := c.Plan()
	for _, k := range serviceKeys {
		if k == "env_file" { // folded into env: its variables are shown there
			continue
		}
		if !strings.Contains(plan, "\n"+k+" = ") && !strings.Contains(plan, "\n[service.db."+k+"]\n") {
			t.Errorf("plan does not show %s:\n%s", k, plan)
		}
	}
	// And what it shows is each key's value: the plan loads back to the
	// same services (SameAs: every field), log file and replicas included.
	back, err := Parse("plan.toml", []byte(plan), env())
	if err != nil {
		t.Fatalf("plan does not load back: %v\n%s", err, plan)
	}
	if a, r, ch := Diff(c, back); a != nil || r != nil || ch != nil || len(back.Services) != len(c.Services) {
		t.Errorf("plan loads back differently: added %q removed %q changed %q\n%s", a, r, ch, plan)
	}
}
