package config

import (
	"reflect"
	"strings"
	"testing"
)

// replicas = N gives N services NAME-i, each with its index in
// TEND_REPLICA and in ${TEND_REPLICA} of its command, env and ready.
func TestReplicas(t *testing.T) {
	src := `[service.web]
command = "srv --port 808${TEND_REPLICA} --tag ${TAG}"
replicas = 3
env = { ID = "w${TEND_REPLICA}" }
ready = { http = "http://127.0.0.1:808${TEND_REPLICA}/" }

[service.front]
command = "front"
after = ["web"]
`
	c, err := Parse("tend.toml", []byte(src), env("TAG", "t"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	if want := []string{"web-0", "web-1", "web-2", "front"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("services %q, want %q", names, want)
	}
	w1 := c.Services[1]
	if w1.ReplicaOf != "web" || w1.Replica != 1 || w1.Replicas != 3 || w1.Line != 1 {
		t.Errorf("web-1: of %q replica %d of %d line %d", w1.ReplicaOf, w1.Replica, w1.Replicas, w1.Line)
	}
	if want := []string{"srv", "--port", "8081", "--tag", "t"}; !reflect.DeepEqual(w1.Command, want) {
		t.Errorf("web-1 command %q, want %q", w1.Command, want)
	}
	if want := []string{"ID=w1", "TEND_REPLICA=1"}; !reflect.DeepEqual(w1.Env, want) {
		t.Errorf("web-1 env %q, want %q", w1.Env, want)
	}
	if w1.Ready.URL != "http://127.0.0.1:8081/" {
		t.Errorf("web-1 ready %q", w1.Ready.URL)
	}
	if f := c.Services[3]; f.Replicas != 0 || f.ReplicaOf != "" || f.Env != nil {
		t.Errorf("front is not a plain service: %+v", f)
	}
	if got := c.StartOrder(); !reflect.DeepEqual(got, [][]string{{"web-0", "web-1", "web-2"}, {"front"}}) {
		t.Errorf("start order %q", got)
	}
	if got := len(c.Instances("web")); got != 3 {
		t.Errorf("Instances(web) = %d services", got)
	}
	if got := c.Instances("web-2"); len(got) != 1 || got[0].Name != "web-2" {
		t.Errorf("Instances(web-2) = %v", got)
	}
	plan := c.Plan()
	for _, want := range []string{
		"[service.web]  # tend.toml:1\nreplicas = 3\n# instances web-0 … web-2, TEND_REPLICA=the index",
		`command = ["srv", "--port", "808${TEND_REPLICA}", "--tag", "t"]`,
		`ready = { http = "http://127.0.0.1:808${TEND_REPLICA}/"`,
		`ID = "w${TEND_REPLICA}"`,
		"# replicas: none (one process, named front)",
		`update = "stop-first"`,
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "[service.web-1]") {
		t.Errorf("plan shows instances as tables:\n%s", plan)
	}
	back, err := Parse("plan.toml", []byte(plan), env())
	if err != nil {
		t.Fatalf("plan does not load back: %v\n%s", err, plan)
	}
	if a, r, ch := Diff(c, back); a != nil || r != nil || ch != nil {
		t.Errorf("plan round trip differs: %q %q %q\n%s", a, r, ch, plan)
	}
}

// A literal ${TEND_REPLICA} ($$) stays literal, outside command, env and
// ready the variable is tend's own, and a plain service has no index.
func TestReplicaExpansionScope(t *testing.T) {
	src := "[service.w]\ncommand = [\"echo\", \"$${TEND_REPLICA}\"]\nreplicas = 2\nworkdir = \"/srv/${TEND_REPLICA:-x}\"\n"
	c, err := Parse("tend.toml", []byte(src), env())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services[1].Command[1]; got != "${TEND_REPLICA}" {
		t.Errorf("literal: %q", got)
	}
	if got := c.Services[1].Workdir; got != "/srv/x" {
		t.Errorf("workdir: %q", got)
	}
	back, err := Parse("plan.toml", []byte(c.Plan()), env())
	if err != nil {
		t.Fatalf("plan does not load back: %v\n%s", err, c.Plan())
	}
	if a, r, ch := Diff(c, back); a != nil || r != nil || ch != nil {
		t.Errorf("plan round trip differs: %q %q %q\n%s", a, r, ch, c.Plan())
	}
	_, err = Parse("tend.toml", []byte("[service.p]\ncommand = \"x ${TEND_REPLICA}\"\n"), env())
	if want := "tend.toml:2: service.p.command: ${TEND_REPLICA} is not set in tend's environment; write ${TEND_REPLICA:-default} for a fallback"; err == nil || err.Error() != want {
		t.Errorf("plain service: got %v, want %s", err, want)
	}
}

func TestReplicasUpdateErrors(t *testing.T) {
	const cmd = "[service.web]\ncommand = \"w\"\n" // lines 1-2
	tests := []struct{ name, in, want string }{
		{"zero", cmd + "replicas = 0\n", `tend.toml:3: service.web.replicas: 0 is out of range; accepted: a number of instances 1-256`},
		{"negative", cmd + "replicas = -2\n", `tend.toml:3: service.web.replicas: -2 is out of range; accepted: a number of instances 1-256`},
		{"too many", cmd + "replicas = 257\n", `tend.toml:3: service.web.replicas: 257 is out of range; accepted: a number of instances 1-256`},
		{"float", cmd + "replicas = 2.5\n", `tend.toml:3: service.web.replicas: expected a number of instances 1-256, got a float (2.5)`},
		{"string", cmd + "replicas = \"3\"\n", `tend.toml:3: service.web.replicas: expected a number of instances 1-256, got a string ("3")`},
		{"name too long", "[service." + strings.Repeat("a", 63) + "]\ncommand = \"w\"\nreplicas = 10\n",
			`tend.toml:3: service.` + strings.Repeat("a", 63) + `.replicas: the instance name "` + strings.Repeat("a", 63) + `-9" is longer than 64 characters; accepted: a shorter service name`},
		{"with schedule", cmd + "schedule = \"@daily\"\nreplicas = 2\n", `tend.toml:4: service.web.replicas: not allowed with schedule: a job runs once per scheduled time; remove replicas (or schedule)`},
		{"collision after", cmd + "replicas = 2\n\n[service.web-1]\ncommand = \"x\"\n",
			`tend.toml:5: service.web-1: the name collides with instance "web-1" of service "web" (replicas = 2 at tend.toml:1: instances web-0 … web-1); accepted: a name that is neither another service's nor one of its instances'`},
		{"collision before", "[service.web-0]\ncommand = \"x\"\n\n" + "[service.web]\ncommand = \"w\"\nreplicas = 1\n",
			`tend.toml:1: service.web-0: the name collides with instance "web-0" of service "web" (replicas = 1 at tend.toml:4: instance web-0); accepted: a name that is neither another service's nor one of its instances'`},
		{"bad value of one instance", cmd + "replicas = 2\nready = { tcp = \":${TEND_REPLICA}\" }\n", `tend.toml:4: service.web.ready.tcp: ":0" has no valid port (1-65535); accepted: HOST:PORT, [IPv6]:PORT or :PORT`},
		{"unknown after", cmd + "replicas = 2\n[service.b]\ncommand = \"b\"\nafter = [\"webb\"]\n", `tend.toml:6: service.b.after: unknown service "webb"; accepted: web-0, web-1, b`},
		{"self after", cmd + "replicas = 2\nafter = [\"web\"]\n", `tend.toml:4: service.web-0.after: dependency cycle: web-0 -> web-0`},
		{"update value", cmd + "update = \"rolling\"\n", `tend.toml:3: service.web.update: "rolling" is not an update order; accepted: stop-first, start-first`},
		{"update type", cmd + "update = true\n", `tend.toml:3: service.web.update: expected one of stop-first, start-first, got a boolean (true)`},
		{"start-first oneshot", cmd + "oneshot = true\nupdate = \"start-first\"\n", `tend.toml:4: service.web.update: "start-first" is not allowed with oneshot = true: a oneshot runs to completion, there is nothing to keep serving; accepted: stop-first`},
		{"start-first job", cmd + "schedule = \"@daily\"\nupdate = \"start-first\"\n", `tend.toml:4: service.web.update: "start-first" is not allowed with schedule: a job's run is not replaced; accepted: stop-first`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tend.toml", []byte(tt.in), env())
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// In a set of files, an instance name defined in another file collides
// too, reported at the plain table's line.
func TestReplicasCollisionAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := dir+"/a.toml", dir+"/b.toml"
	write(t, a, "[service.web]\ncommand = \"w\"\nreplicas = 2\n")
	write(t, b, "\n[service.web-0]\ncommand = \"x\"\n")
	_, err := LoadSet([]string{a, b}, nil, env())
	if err == nil || !strings.HasPrefix(err.Error(), b+`:2: service.web-0: the name collides with instance "web-0" of service "web" (replicas = 2 at `+a+":1") {
		t.Errorf("got %v", err)
	}
	write(t, b, "[service.web]\ncommand = \"x\"\n")
	_, err = LoadSet([]string{a, b}, nil, env())
	if err == nil || !strings.HasPrefix(err.Error(), b+`:1: service.web: the name collides with the name of service "web"`) {
		t.Errorf("got %v", err)
	}
}

func TestUpdateDefault(t *testing.T) {
	c, err := Parse("t.toml", []byte("[service.a]\ncommand = \"x\"\n[service.b]\ncommand = \"y\"\nupdate = \"start-first\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Services[0].Update != UpdateStopFirst || c.Services[1].Update != UpdateStartFirst {
		t.Errorf("update = %q, %q", c.Services[0].Update, c.Services[1].Update)
	}
}

// replicas = 1 is one instance, and the plan says so in the singular
// (it said "instances web-0 … web-0").
func TestReplicasOnePlan(t *testing.T) {
	c, err := Parse("tend.toml", []byte("[service.web]\ncommand = \"srv\"\nreplicas = 1\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 1 || c.Services[0].Name != "web-0" {
		t.Fatalf("services %+v, want one web-0", c.Services)
	}
	if plan, want := c.Plan(), "replicas = 1\n# instance web-0, TEND_REPLICA=the index\n"; !strings.Contains(plan, want) {
		t.Errorf("plan lacks %q:\n%s", want, plan)
	}
}
