package ociruntime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	cases := []struct {
		name string
		args string
		want cmdline
	}{
		{"containerd shim create", "--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json create --bundle /b --pid-file /b/init.pid --console-socket /tmp/c.sock abc",
			cmdline{log: "/b/log.json", logFormat: "json", command: "create", bundle: "/b"}},
		{"systemd cgroup bool before log", "--systemd-cgroup --debug --log=/l --log-format=text run -b /x -d id",
			cmdline{log: "/l", logFormat: "text", debug: true, command: "run", bundle: "/x"}},
		{"single dash flags", "-root /r -log /l create -bundle=/y id",
			cmdline{log: "/l", logFormat: "text", command: "create", bundle: "/y"}},
		{"bundle after id", "create id --bundle /z", cmdline{logFormat: "text", command: "create", bundle: "/z"}},
		{"default bundle is cwd", "--root /r create --pid-file /p id", cmdline{logFormat: "text", command: "create", bundle: "."}},
		{"pid-file value looks like a flag target", "create --pid-file -b id", cmdline{logFormat: "text", command: "create", bundle: "."}},
		{"rootless takes a value", "--rootless true --criu /c run id", cmdline{logFormat: "text", command: "run", bundle: "."}},
		{"crun cgroup-manager", "--cgroup-manager systemd create -b /c id", cmdline{logFormat: "text", command: "create", bundle: "/c"}},
		{"other command", "--root /r kill id KILL", cmdline{logFormat: "text", command: "kill", bundle: "."}},
		{"exec is not create", "exec --bundle /no id sh", cmdline{logFormat: "text", command: "exec", bundle: "."}},
		{"no command", "--version", cmdline{logFormat: "text", bundle: "."}},
		{"nothing", "", cmdline{logFormat: "text", bundle: "."}},
		{"double dash", "--root /r -- create -b /q id", cmdline{logFormat: "text", command: "create", bundle: "/q"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := parseArgs(strings.Fields(c.args))
			if got != c.want {
				t.Errorf("parseArgs(%q) = %+v, want %+v", c.args, got, c.want)
			}
		})
	}
}

// base is a config.json as containerd writes it, with fields tend-runc
// does not know (a vendor extension, a future field) and HTML-ish text.
const base = `{
  "ociVersion": "1.2.0",
  "x-vendor": {"gpu": [1, 2, {"deep": true}], "n": 18446744073709551615},
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "echo <a> && app & wait"],
    "env": ["PATH=/bin", "TEND_GRACE=3s"],
    "cwd": "/",
    "futureField": {"k": "v"}
  },
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "annotations": {"io.kubernetes.cri.container-type": "container"%s}
}`

// self is the tend binary the tests inject: the test binary (mode 0755).
var self = func() string {
	p, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return p
}()

func spec(extraAnnotations string) []byte {
	return []byte(strings.Replace(base, "%s", extraAnnotations, 1))
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	return m
}

func TestRewriteInjects(t *testing.T) {
	in := spec(`, "tend.sh/hold": "true", "tend.sh/grace": "20s", "tend.sh/remap-exit": "143:0,1:2"`)
	out, changed, err := Rewrite(in, self)
	if err != nil || !changed {
		t.Fatalf("Rewrite: changed=%v err=%v", changed, err)
	}
	got, want := decode(t, out), decode(t, in)
	proc := got["process"].(map[string]any)
	wantArgs := []any{TendPath, "--", "sh", "-c", "echo <a> && app & wait"}
	if !reflect.DeepEqual(proc["args"], wantArgs) {
		t.Errorf("args = %v, want %v", proc["args"], wantArgs)
	}
	// TEND_GRACE is the container's own (3s): the annotation does not win.
	wantEnv := []any{"PATH=/bin", "TEND_GRACE=3s", "TEND_HOLD=true", "TEND_REMAP_EXIT=143:0,1:2"}
	if !reflect.DeepEqual(proc["env"], wantEnv) {
		t.Errorf("env = %v, want %v", proc["env"], wantEnv)
	}
	mounts := got["mounts"].([]any)
	wantMount := map[string]any{"destination": TendPath, "type": "bind", "source": self, "options": []any{"bind", "ro", "nosuid", "nodev"}}
	if len(mounts) != 2 || !reflect.DeepEqual(mounts[1], wantMount) || !reflect.DeepEqual(mounts[0], want["mounts"].([]any)[0]) {
		t.Errorf("mounts = %v", mounts)
	}
	// Everything else is exactly as it was, unknown fields included.
	delete(proc, "args")
	delete(proc, "env")
	wproc := want["process"].(map[string]any)
	delete(wproc, "args")
	delete(wproc, "env")
	delete(got, "mounts")
	delete(want, "mounts")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("other fields changed:\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(string(out), "18446744073709551615") || !strings.Contains(string(out), "echo <a> && app") {
		t.Errorf("numbers or text re-encoded: %s", out)
	}
	// Idempotent: a second pass changes nothing.
	again, changed, err := Rewrite(out, self)
	if err != nil || changed || string(again) != string(out) {
		t.Errorf("second Rewrite: changed=%v err=%v", changed, err)
	}
}

func TestRewriteLeavesAlone(t *testing.T) {
	withArgs := func(args string) []byte {
		return []byte(`{"process":{"args":` + args + `},"mounts":[]}`)
	}
	cases := []struct {
		name string
		in   []byte
	}{
		{"opt-out annotation", spec(`, "tend.sh/inject": "false", "tend.sh/grace": "bogus"`)},
		{"tini", withArgs(`["/sbin/tini","--","app"]`)},
		{"docker-init", withArgs(`["/sbin/docker-init","--","app"]`)},
		{"dumb-init", withArgs(`["dumb-init","app"]`)},
		{"catatonit", withArgs(`["/usr/bin/catatonit","--","app"]`)},
		{"tend in the image", withArgs(`["/tend","--","app"]`)},
		{"tini-static", withArgs(`["/tini-static","app"]`)},
		{"s6-overlay", withArgs(`["/init"]`)},
		{"systemd", withArgs(`["/sbin/init"]`)},
		{"s6-svscan", withArgs(`["s6-svscan","/etc/s6"]`)},
		{"runsvdir", withArgs(`["runsvdir","-P","/etc/service"]`)},
		{"supervisord", withArgs(`["/usr/bin/supervisord","-n"]`)},
		{"pause", withArgs(`["/pause"]`)},
		{"containerd CRI sandbox", []byte(`{"annotations":{"io.kubernetes.cri.container-type":"sandbox"},"process":{"args":["/pause-under-another-name"]}}`)},
		{"containerd CRI sandbox with an invalid tend.sh/inject", []byte(`{"annotations":{"io.kubernetes.cri.container-type":"sandbox","tend.sh/inject":"no"},"process":{"args":["/pause"]}}`)},
		{"CRI-O sandbox", []byte(`{"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox"},"process":{"args":["/x"]}}`)},
		{"no process", []byte(`{"ociVersion":"1.0.2"}`)},
		{"null process", []byte(`{"process":null}`)},
		{"empty args", withArgs(`[]`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed, err := Rewrite(c.in, self)
			if err != nil || changed || string(out) != string(c.in) {
				t.Errorf("Rewrite: changed=%v err=%v out=%s", changed, err, out)
			}
		})
	}
	// An init's name as an argument, not the command, is injected.
	if _, changed, _ := Rewrite(withArgs(`["sh","-c","exec tini app"]`), self); !changed {
		t.Error("sh -c 'exec tini app' was left alone")
	}
}

// TestRewritePodGrace: the kubelet's grace annotation (passed through by
// container_annotations) becomes tend's grace less the margin; with none,
// TEND_GRACE=platform.
func TestRewritePodGrace(t *testing.T) {
	for annotations, want := range map[string]string{
		`{"io.kubernetes.pod.terminationGracePeriod":"30"}`: "TEND_GRACE=29s",
		`{}`: "TEND_GRACE=platform",
		`{"io.kubernetes.pod.terminationGracePeriod":"30","tend.sh/grace":"1m"}`: "TEND_GRACE=1m",
	} {
		in := []byte(`{"annotations":` + annotations + `,"process":{"args":["app"],"env":["PATH=/bin"]}}`)
		out, changed, err := Rewrite(in, self)
		if err != nil || !changed {
			t.Fatalf("%s: changed=%v err=%v", annotations, changed, err)
		}
		env := decode(t, out)["process"].(map[string]any)["env"]
		if !reflect.DeepEqual(env, []any{"PATH=/bin", want}) {
			t.Errorf("%s: env = %v, want PATH=/bin %s", annotations, env, want)
		}
	}
}

func TestRewriteErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"malformed", "{\n  \"process\": {\n    \"args\": [\"sh\",]\n  }\n}", "line 3 column"},
		{"truncated", `{"process": {"args": ["sh"`, "malformed JSON"},
		{"not an object", `["a"]`, "malformed JSON"},
		{"args not strings", `{"process":{"args":[1]}}`, "process.args"},
		{"env not strings", `{"process":{"args":["a"],"env":"X=1"}}`, "process.env"},
		{"mounts not array", `{"process":{"args":["a"]},"mounts":{}}`, "mounts"},
		{"annotations not strings", `{"annotations":{"a":1},"process":{"args":["a"]}}`, "annotations"},
		{"bad grace", `{"annotations":{"tend.sh/grace":"soon"},"process":{"args":["a"]}}`, `invalid annotation tend.sh/grace="soon": not a duration; want DURATION`},
		{"bad remap", `{"annotations":{"tend.sh/remap-exit":"1:300"},"process":{"args":["a"]}}`, `invalid annotation tend.sh/remap-exit="1:300"`},
		{"bad forward", `{"annotations":{"tend.sh/forward":"all"},"process":{"args":["a"]}}`, "want group|child"},
		{"empty value", `{"annotations":{"tend.sh/user":""},"process":{"args":["a"]}}`, "tend.sh/user=\"\": empty value"},
		{"unknown option", `{"annotations":{"tend.sh/graec":"1s"},"process":{"args":["a"]}}`, "unknown annotation tend.sh/graec"},
		{"bad inject", `{"annotations":{"tend.sh/inject":"no"},"process":{"args":["a"]}}`, `tend.sh/inject="no"; want "true" or "false"`},
		{"config and procfile", `{"annotations":{"tend.sh/config":"/a","tend.sh/procfile":"/b"},"process":{"args":["a"]}}`, "cannot be used together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, changed, err := Rewrite([]byte(c.in), self)
			if err == nil || changed || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Rewrite(%s): changed=%v err=%v, want an error containing %q", c.in, changed, err, c.want)
			}
		})
	}
}

func TestRewriteCompletesPartialInjection(t *testing.T) {
	// args already start with tend, but the mount is missing: add it once.
	in := []byte(`{"process":{"args":["` + TendPath + `","--","app"]},"mounts":[]}`)
	out, changed, err := Rewrite(in, self)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	m := decode(t, out)
	if args := m["process"].(map[string]any)["args"].([]any); len(args) != 3 {
		t.Errorf("args = %v, want tend prepended once", args)
	}
	if mounts := m["mounts"].([]any); len(mounts) != 1 {
		t.Errorf("mounts = %v", mounts)
	}
}

// FuzzRewrite: never panics; input left alone comes back byte for byte;
// a rewrite is JSON with the original args after tend and "--", and a
// second pass over it changes nothing.
func FuzzRewrite(f *testing.F) {
	f.Add(spec(""))
	f.Add(spec(`, "tend.sh/grace": "2s"`))
	f.Add([]byte(`{"process":{"args":["/init"]}}`))
	f.Add([]byte(`{"process":{"args":["a"],"env":null},"mounts":null,"annotations":null}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changed, err := Rewrite(in, self)
		if err != nil {
			return
		}
		if !changed {
			if string(out) != string(in) {
				t.Fatalf("left alone but not byte for byte:\n%s\n%s", in, out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %s", out)
		}
		before, after := argsOf(t, in), argsOf(t, out)
		if before[0] != TendPath && !reflect.DeepEqual(after, append([]string{TendPath, "--"}, before...)) {
			t.Fatalf("args %q, want tend, --, then %q", after, before)
		}
		again, changed, err := Rewrite(out, self)
		if err != nil || changed || string(again) != string(out) {
			t.Fatalf("not idempotent: changed=%v err=%v\n%s\n%s", changed, err, out, again)
		}
	})
}

// argsOf is process.args, read with the exact (case-sensitive) keys
// tend-runc reads.
func argsOf(t *testing.T, data []byte) []string {
	var top, proc map[string]json.RawMessage
	var args []string
	if json.Unmarshal(data, &top) != nil || json.Unmarshal(top["process"], &proc) != nil || json.Unmarshal(proc["args"], &args) != nil || len(args) == 0 {
		t.Fatalf("no process.args in %s", data)
	}
	return args
}

func TestRealRuntime(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "tend")
	write := func(p string) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(self)
	fake, real := filepath.Join(dir, "fake"), filepath.Join(dir, "real")
	for _, err := range []error{
		os.Mkdir(fake, 0o755),
		os.Mkdir(real, 0o755),
		os.Symlink(self, filepath.Join(fake, "runc")), // tend-runc installed as "runc"
		os.Link(self, filepath.Join(fake, "crun")),    // a hard link
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The self cases below prove something only if the links are there.
	if st, err := os.Stat(filepath.Join(fake, "crun")); err != nil || st.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Fatalf("the hard link to self is not there: %v", err)
	}
	write(filepath.Join(real, "runc"))
	write(filepath.Join(real, "crun"))
	noConf := filepath.Join(dir, "none.toml")
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{"PATH": fake + ":" + real}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	n := 0
	conf := func(body string, mode os.FileMode) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("runc%d.toml", n))
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	ok := []struct {
		name   string
		getenv func(string) (string, bool)
		conf   string
		want   string
	}{
		{"runc from PATH skips a symlink to self", env(), noConf, filepath.Join(real, "runc")},
		{"env names crun; a hard link to self is skipped", env(RuntimeEnv, "crun"), noConf, filepath.Join(real, "crun")},
		{"env absolute path", env(RuntimeEnv, filepath.Join(real, "crun")), noConf, filepath.Join(real, "crun")},
		{"config file", env(), conf(`runtime = "crun"`+"\n", 0o644), filepath.Join(real, "crun")},
		{"env wins over config file", env(RuntimeEnv, "runc"), conf(`runtime = "crun"`, 0o644), filepath.Join(real, "runc")},
	}
	for _, c := range ok {
		got, err := realRuntime(self, c.getenv, c.conf)
		if err != nil || got != c.want {
			t.Errorf("%s: realRuntime = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	bad := []struct {
		name   string
		getenv func(string) (string, bool)
		conf   string
		want   string
	}{
		{"explicit self", env(RuntimeEnv, filepath.Join(fake, "runc")), noConf, "is tend-runc itself"},
		{"missing", env(RuntimeEnv, "nosuchruntime"), noConf, `real OCI runtime "nosuchruntime" (from TEND_RUNC_RUNTIME) not found in PATH=`},
		{"only self in PATH", func(k string) (string, bool) { return map[string]string{"PATH": fake}[k], true }, noConf, "only tend-runc itself"},
		{"missing absolute", env(RuntimeEnv, "/no/such/runc"), noConf, "/no/such/runc (from TEND_RUNC_RUNTIME): no such file"},
		{"not executable", env(RuntimeEnv, conf("", 0o644)), noConf, "is not an executable file"},
		{"world-writable config", env(), conf(`runtime = "crun"`, 0o666), "writable by group or others"},
		{"unknown key", env(), conf(`runtim = "crun"`, 0o644), "unknown key"},
		{"syntax", env(), conf(`runtime = crun`, 0o644), ".toml:1:"},
	}
	for _, c := range bad {
		got, err := realRuntime(self, c.getenv, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: realRuntime = %q, %v; want an error containing %q", c.name, got, err, c.want)
		}
	}
}

func TestFormatEntry(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var e struct{ Level, Msg, Time string }
	if err := json.Unmarshal(formatEntry("json", "error", `tend-runc: bad "x"`, now), &e); err != nil {
		t.Fatal(err)
	}
	if e.Level != "error" || e.Msg != `tend-runc: bad "x"` || e.Time != "2026-12-01T08:00:00Z" {
		t.Errorf("json entry = %+v", e)
	}
	got := string(formatEntry("text", "error", `bad "x"`, now))
	if want := `time="2026-12-01T08:00:00Z" level=error msg="bad \"x\""` + "\n"; got != want {
		t.Errorf("text entry = %q, want %q", got, want)
	}
}

func TestRewriteBundleAtomicKeepsMode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte(`{"process":{"args":["app"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := rewriteBundle(dir, self, t.Logf); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Errorf("leftover files in the bundle: %v (%v)", ents, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), TendPath) {
		t.Errorf("not rewritten: %s", b)
	}
	if err := rewriteBundle(filepath.Join(dir, "nope"), self, t.Logf); err == nil || !strings.Contains(err.Error(), "cannot read the bundle's config.json") {
		t.Errorf("missing bundle: %v", err)
	}
}

// BenchmarkRewrite: the rewrite of a config.json as runc spec writes it.
func BenchmarkRewrite(b *testing.B) {
	in := spec(`, "tend.sh/grace": "20s"`)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := Rewrite(in, self); err != nil {
			b.Fatal(err)
		}
	}
}

// README (tend-runc, "Terminals, users, user namespaces"): a non-root
// process.user or a user namespace needs tend's binary readable and
// executable by others; otherwise the creation fails with a message saying
// so and config.json is left as it was. The bundle path, as tend-runc
// create runs it.
func TestRewriteBundleRefusesTendOthersCannotExecute(t *testing.T) {
	const userns = `,"linux":{"uidMappings":[{"containerID":0,"hostID":100000,"size":65536}]}`
	for _, c := range []struct {
		name  string
		extra string // after process
		uid   int
		mode  os.FileMode
		want  string // "" = rewritten
	}{
		{"uid 1000, tend 0750", "", 1000, 0o750, "process.user.uid 1000 cannot execute tend"},
		{"uid 1000, tend 0711", "", 1000, 0o711, "cannot execute tend"},
		{"user namespace, tend 0700", userns, 0, 0o700, "user namespace (linux.uidMappings) cannot execute tend"},
		{"uid 1000, tend 0755", "", 1000, 0o755, ""},
		{"root, tend 0700", "", 0, 0o700, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			self := filepath.Join(dir, "tend")
			if err := os.WriteFile(self, []byte("#!/bin/sh\n"), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(self, c.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			bundle := filepath.Join(dir, "bundle")
			if err := os.Mkdir(bundle, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(bundle, "config.json")
			in := fmt.Sprintf(`{"process":{"user":{"uid":%d,"gid":%d},"args":["app"]}%s}`, c.uid, c.uid, c.extra)
			if err := os.WriteFile(file, []byte(in), 0o600); err != nil {
				t.Fatal(err)
			}
			err := rewriteBundle(bundle, self, t.Logf)
			out, rerr := os.ReadFile(file)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if c.want == "" {
				if err != nil || !strings.Contains(string(out), self) {
					t.Errorf("rewriteBundle: %v; config.json %s, want it rewritten", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "chmod a+rx") {
				t.Errorf("rewriteBundle: %v; want an error containing %q and the fix", err, c.want)
			}
			if string(out) != in {
				t.Errorf("config.json changed although the creation is refused:\n%s", out)
			}
		})
	}
}
