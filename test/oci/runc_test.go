package oci

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRuncPID1IsTend(t *testing.T) {
	need(t)
	b := newBundle(t, "sh", "-c", `cat /proc/1/comm; tr '\0' ' ' </proc/1/cmdline; echo; ls -l /dev/.tend/tend; exit 7`)
	b.spec["x-unknown-vendor-field"] = map[string]any{"keep": []any{1.0, "two"}}
	b.proc()["x-future"] = "kept"
	b.write()
	r := newRuntime(t, tendRunc)
	res := r.runBundle(b, randomID("pid1-"))
	lines := strings.Split(res.stdout, "\n")
	if res.code != 7 || len(lines) < 3 || lines[0] != "tend" {
		t.Fatalf("code %d, stdout %q, stderr %q; want exit 7 and /proc/1/comm = tend", res.code, res.stdout, res.stderr)
	}
	if want := tendPath + " -- sh -c "; !strings.HasPrefix(lines[1], want) {
		t.Errorf("/proc/1/cmdline = %q, want it to start with %q", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], "-r-xr-xr-x") && !strings.HasPrefix(lines[2], "-rwxr-xr-x") {
		t.Errorf("ls -l %s = %q", tendPath, lines[2])
	}
	cfg := b.config()
	if got := argsOf(t, cfg); len(got) != 5 || got[0] != tendPath || got[1] != "--" || got[2] != "sh" {
		t.Errorf("config.json process.args = %q", got)
	}
	for _, s := range []string{`"x-unknown-vendor-field":{"keep":[1,"two"]}`, `"x-future":"kept"`, `"source":"` + env.Tend} {
		if !strings.Contains(string(cfg), s) {
			t.Errorf("config.json lost %s:\n%s", s, cfg)
		}
	}
}

// The container's exit code is the command's, as under plain runc.
func TestRuncExitCode(t *testing.T) {
	need(t)
	cases := []struct {
		name  string
		args  []string
		want  int
		plain bool // plain runc gives the same code (as PID 1, a process cannot kill itself)
	}{
		{"zero", []string{"true"}, 0, true},
		{"seven", []string{"sh", "-c", "exit 7"}, 7, true},
		{"app killed by SIGKILL", []string{"sh", "-c", "testprog killself KILL; exit $?"}, 137, true},
		{"killed by SIGKILL", []string{"testprog", "killself", "KILL"}, 137, false},
		{"not found", []string{"/no/such/program"}, 127, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBundle(t, c.args...)
			b.write()
			got := newRuntime(t, tendRunc).runBundle(b, randomID("code-"))
			if got.code != c.want {
				t.Errorf("tend-runc: exit %d, want %d (stderr %q)", got.code, c.want, got.stderr)
			}
			if !c.plain {
				return
			}
			b = newBundle(t, c.args...)
			b.write()
			if plain := newRuntime(t, "runc").runBundle(b, randomID("code-")); plain.code != c.want {
				t.Errorf("plain runc: exit %d, want %d", plain.code, c.want)
			}
		})
	}
}

// The seed case: `sh -c "app; echo after"` as the container's command,
// SIGTERM to the container: the app behind the shell finishes its cleanup.
func TestRuncSIGTERMReachesAppBehindShell(t *testing.T) {
	need(t)
	b := newBundle(t, "sh", "-c", "testprog trapterm --file /out/done --delay 1s --ready /out/ready; echo after")
	b.write()
	r := newRuntime(t, tendRunc)
	id := randomID("term-")
	done := make(chan result, 1)
	go func() { done <- r.runBundle(b, id) }()
	waitFile(t, filepath.Join(b.out, "ready"), 60*time.Second)
	start := time.Now()
	if res := r.run("kill", id, "TERM"); res.code != 0 {
		t.Fatalf("kill: %d %s", res.code, res.stderr)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("container did not exit within 60s of SIGTERM")
	}
	took := time.Since(start)
	got, err := os.ReadFile(filepath.Join(b.out, "done"))
	if err != nil || !strings.Contains(string(got), "done SIGTERM") {
		t.Errorf("the app's cleanup did not finish (file: %q, %v); exit %d after %v, stderr %q", got, err, res.code, took, res.stderr)
	}
	if res.code != 143 || took < time.Second {
		t.Errorf("exit %d after %v; want 143 (sh died of SIGTERM) after the app's 1 s cleanup", res.code, took)
	}
}

func TestRuncOptOutAnnotation(t *testing.T) {
	need(t)
	b := newBundle(t, "cat", "/proc/1/comm")
	b.annotate("tend.sh/inject", "false", "tend.sh/grace", "ignored-when-opted-out")
	before := b.write()
	res := newRuntime(t, tendRunc).runBundle(b, randomID("optout-"))
	if res.code != 0 || strings.TrimSpace(res.stdout) != "cat" {
		t.Errorf("code %d, /proc/1/comm %q (stderr %q); want cat: no tend", res.code, res.stdout, res.stderr)
	}
	if string(b.config()) != string(before) {
		t.Errorf("config.json was rewritten despite tend.sh/inject=false")
	}
}

func TestRuncAnnotationSetsOption(t *testing.T) {
	need(t)
	b := newBundle(t, "sh", "-c", `echo "$TEND_REMAP_EXIT $TEND_GRACE"; exit 7`)
	b.annotate("tend.sh/remap-exit", "7:0", "tend.sh/grace", "20s")
	b.proc()["env"] = append(b.proc()["env"].([]any), "TEND_GRACE=3s") // the container's own wins
	b.write()
	res := newRuntime(t, tendRunc).runBundle(b, randomID("annot-"))
	if res.code != 0 || strings.TrimSpace(res.stdout) != "7:0 3s" {
		t.Errorf("code %d, stdout %q (stderr %q); want exit 0 (7 remapped by tend.sh/remap-exit) and \"7:0 3s\"", res.code, res.stdout, res.stderr)
	}
}

// TestRuncPodGrace: the kubelet's io.kubernetes.pod.terminationGracePeriod
// (3 s here) is the injected tend's grace less the margin (2.7s): a
// SIGTERM-ignoring app is SIGKILLed by tend then, exit 137. Without the
// annotation (Docker) the grace is the platform's: TEND_GRACE=platform.
func TestRuncPodGrace(t *testing.T) {
	need(t)
	t.Run("kubelet", func(t *testing.T) {
		b := newBundle(t, "sh", "-c", `echo "$TEND_GRACE" >/out/grace; exec testprog ignoreterm --ready /out/ready`)
		b.annotate("io.kubernetes.pod.terminationGracePeriod", "3")
		b.write()
		r := newRuntime(t, tendRunc)
		id := randomID("podgrace-")
		done := make(chan result, 1)
		go func() { done <- r.runBundle(b, id) }()
		waitFile(t, filepath.Join(b.out, "ready"), 60*time.Second)
		if got, _ := os.ReadFile(filepath.Join(b.out, "grace")); strings.TrimSpace(string(got)) != "2.7s" {
			t.Errorf("TEND_GRACE = %q, want 2.7s (3 s less a tenth)", got)
		}
		start := time.Now()
		if res := r.run("kill", id, "TERM"); res.code != 0 {
			t.Fatalf("kill: %d %s", res.code, res.stderr)
		}
		var res result
		select {
		case res = <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("container did not exit within 60s of SIGTERM")
		}
		if took := time.Since(start); res.code != 137 || took < 2700*time.Millisecond {
			t.Errorf("exit %d after %v; want 137 (tend's SIGKILL at 2.7s), stderr %q", res.code, took, res.stderr)
		}
	})
	t.Run("docker", func(t *testing.T) {
		b := newBundle(t, "sh", "-c", `echo "$TEND_GRACE"`)
		b.write()
		res := newRuntime(t, tendRunc).runBundle(b, randomID("nograce-"))
		if res.code != 0 || strings.TrimSpace(res.stdout) != "platform" {
			t.Errorf("code %d, TEND_GRACE %q (stderr %q); want platform", res.code, res.stdout, res.stderr)
		}
	})
}

// TestRuncSandboxInvalidInjectRuns: an invalid tend.sh/inject on a pod (the
// annotations are the pod's, so the sandbox carries them too) leaves the
// sandbox alone and running; its containers fail naming the annotation
// (TestRuncInvalidAnnotationFailsCreation).
func TestRuncSandboxInvalidInjectRuns(t *testing.T) {
	need(t)
	b := newBundle(t, "cat", "/proc/1/comm")
	b.annotate("io.kubernetes.cri.container-type", "sandbox", "tend.sh/inject", "no")
	before := b.write()
	res := newRuntime(t, tendRunc).runBundle(b, randomID("sandbox-"))
	if res.code != 0 || strings.TrimSpace(res.stdout) != "cat" {
		t.Errorf("code %d, /proc/1/comm %q (stderr %q); want the sandbox to run untouched", res.code, res.stdout, res.stderr)
	}
	if string(b.config()) != string(before) {
		t.Error("the sandbox's config.json was rewritten")
	}
}

func TestRuncInvalidAnnotationFailsCreation(t *testing.T) {
	need(t)
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			b := newBundle(t, "true")
			b.annotate("tend.sh/grace", "soon")
			before := b.write()
			r := newRuntime(t, tendRunc)
			id := randomID("badannot-")
			r.cleanupContainer(id)
			res := r.run("--log-format", format, "run", "--bundle", b.dir, id)
			want := `tend.sh/grace="soon": not a duration; want DURATION`
			if res.code == 0 || !strings.Contains(res.stderr, want) {
				t.Errorf("code %d, stderr %q; want nonzero and %q", res.code, res.stderr, want)
			}
			data, _ := os.ReadFile(r.log)
			if format == "json" {
				if level, msg := r.lastLog(); level != "error" || !strings.Contains(msg, want) {
					t.Errorf("log: level %q msg %q; want error naming the annotation", level, msg)
				}
			} else if !strings.HasPrefix(string(data), `time="`) || !strings.Contains(string(data), `level=error msg="tend-runc: `) {
				t.Errorf("text log = %q", data)
			}
			if string(b.config()) != string(before) {
				t.Error("config.json changed although creation failed")
			}
			if st := r.run("state", id); st.code == 0 {
				t.Errorf("the container exists: %s", st.stdout)
			}
		})
	}
}

func TestRuncInitLeftAlone(t *testing.T) {
	need(t)
	if _, err := os.Stat(filepath.Join(rootfs, "sbin/tini-static")); err != nil {
		t.Fatalf("tini-static is not in the test rootfs (apt-get install tini; scripts/test-deps does): %v", err)
	}
	b := newBundle(t, "/sbin/tini-static", "-s", "--", "cat", "/proc/1/comm")
	before := b.write()
	r := newRuntime(t, tendRunc)
	id := randomID("init-")
	r.cleanupContainer(id)
	res := r.run("--debug", "run", "--bundle", b.dir, id)
	if res.code != 0 || strings.TrimSpace(res.stdout) != "tini-static" {
		t.Errorf("code %d, /proc/1/comm %q (stderr %q); want tini-static", res.code, res.stdout, res.stderr)
	}
	// With --debug, the decision is in the log (level debug).
	log, _ := os.ReadFile(r.log)
	if want := `"level":"debug","msg":"tend-runc: ` + filepath.Join(b.dir, "config.json") + `: left alone: the command /sbin/tini-static is an init"`; !strings.Contains(string(log), want) {
		t.Errorf("--debug log lacks %s:\n%s", want, log)
	}
	if string(b.config()) != string(before) {
		t.Error("config.json was rewritten for an image that starts with an init")
	}
}

func TestRuncReadOnlyRootfs(t *testing.T) {
	need(t)
	const script = `cat /proc/1/comm; if echo x >/probe 2>/dev/null; then echo writable; else echo read-only; fi`
	t.Run("root.readonly", func(t *testing.T) {
		b := newBundle(t, "sh", "-c", script)
		b.write()
		res := newRuntime(t, tendRunc).runBundle(b, randomID("ro-"))
		if res.code != 0 || res.stdout != "tend\nread-only\n" {
			t.Errorf("code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
		}
	})
	// A root filesystem that cannot be written at all, not even by runc
	// before it remounts it read-only (a read-only bind mount, in a mount
	// namespace of the runtime's own): the mount point is in /dev's tmpfs.
	t.Run("unwritable rootfs", func(t *testing.T) {
		ro := filepath.Join(t.TempDir(), "rootfs")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		b := newBundle(t, "sh", "-c", script)
		b.spec["root"] = map[string]any{"path": ro, "readonly": true}
		b.write()
		r := newRuntime(t, tendRunc)
		id := randomID("unwritable-")
		r.cleanupContainer(id)
		sh := `mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && shift 2 && exec "$@"`
		args := []string{"--mount", "--propagation", "private", "sh", "-c", sh, "sh", rootfs, ro,
			tendRunc, "--root", r.root, "--log", r.log, "--log-format", "json", "run", "--bundle", b.dir, id}
		out, err := exec.Command("unshare", args...).Output()
		if err != nil || string(out) != "tend\nread-only\n" {
			t.Errorf("%v: %q", err, out)
		}
	})
}

func TestRuncNonRootUser(t *testing.T) {
	need(t)
	b := newBundle(t, "sh", "-c", `cat /proc/1/comm; id -u; testprog trapterm --file /out/done --delay 100ms --ready /out/ready & wait`)
	b.proc()["user"] = map[string]any{"uid": 1000, "gid": 1000}
	b.write()
	r := newRuntime(t, tendRunc)
	id := randomID("user-")
	done := make(chan result, 1)
	go func() { done <- r.runBundle(b, id) }()
	waitFile(t, filepath.Join(b.out, "ready"), 60*time.Second)
	r.run("kill", id, "TERM")
	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("container did not exit within 60s of SIGTERM")
	}
	if res.stdout != "tend\n1000\n" {
		t.Errorf("stdout %q, stderr %q; want tend as PID 1 running as uid 1000", res.stdout, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(b.out, "done")); err != nil {
		t.Errorf("SIGTERM did not reach the app of a non-root tend: %v (exit %d)", err, res.code)
	}
}

func TestRuncUserNamespace(t *testing.T) {
	need(t)
	b := newBundle(t, "sh", "-c", `cat /proc/1/comm; id -u; cat /proc/self/uid_map`)
	lin := b.spec["linux"].(map[string]any)
	lin["namespaces"] = append(lin["namespaces"].([]any), map[string]any{"type": "user"})
	m := []any{map[string]any{"containerID": 0, "hostID": 200000, "size": 65536}}
	lin["uidMappings"], lin["gidMappings"] = m, m
	// Keep the bundle minimal: no sysfs or cgroupfs mounts.
	var mounts []any
	for _, mt := range b.spec["mounts"].([]any) {
		if d := mt.(map[string]any)["destination"]; d != "/sys" && d != "/sys/fs/cgroup" {
			mounts = append(mounts, mt)
		}
	}
	b.spec["mounts"] = mounts
	b.write()
	res := newRuntime(t, tendRunc).runBundle(b, randomID("userns-"))
	if res.code != 0 || !strings.HasPrefix(res.stdout, "tend\n0\n") || !strings.Contains(res.stdout, "200000") {
		t.Errorf("code %d, stdout %q, stderr %q; want tend as PID 1 in a user namespace", res.code, res.stdout, res.stderr)
	}
}

func TestRuncTerminal(t *testing.T) {
	need(t)
	b := newBundle(t, "sh", "-c", `cat /proc/1/comm; tty; test -t 0 && echo stdin-is-a-tty`)
	b.proc()["terminal"] = true
	b.write()
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	var output strings.Builder
	var recvErr error
	wg.Add(1)
	go func() { // the console socket protocol: the pty master arrives by SCM_RIGHTS
		defer wg.Done()
		ln.SetDeadline(time.Now().Add(cmdTimeout))
		c, err := ln.AcceptUnix()
		if err != nil {
			recvErr = err
			return
		}
		defer c.Close()
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := c.ReadMsgUnix(make([]byte, 4096), oob)
		if err != nil {
			recvErr = err
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			recvErr = err
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			recvErr = err
			return
		}
		master := os.NewFile(uintptr(fds[0]), "pty-master")
		defer master.Close()
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			output.Write(buf[:n])
			if err != nil { // EIO once the container's side is closed
				return
			}
		}
	}()
	// As containerd's shim does it: create with a console socket, start.
	// (runc run refuses a console socket unless it detaches.)
	r := newRuntime(t, tendRunc)
	id := randomID("tty-")
	r.cleanupContainer(id)
	if res := r.run("create", "--bundle", b.dir, "--console-socket", sock, id); res.code != 0 {
		ln.Close()
		t.Fatalf("create: %+v", res)
	}
	if res := r.run("start", id); res.code != 0 {
		t.Fatalf("start: %+v", res)
	}
	wg.Wait()
	out := strings.ReplaceAll(output.String(), "\r", "")
	if recvErr != nil {
		t.Fatalf("console socket: %v", recvErr)
	}
	if !strings.HasPrefix(out, "tend\n/dev/pts/") || !strings.Contains(out, "stdin-is-a-tty") {
		t.Errorf("terminal output %q", out)
	}
}

func TestRuncMalformedConfig(t *testing.T) {
	need(t)
	b := newBundle(t, "true")
	bad := "{\n  \"process\": {\n    \"args\": [\"true\",]\n  }\n}\n"
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, tendRunc)
	id := randomID("malformed-")
	r.cleanupContainer(id)
	res := r.run("create", "--bundle", b.dir, id)
	want := filepath.Join(b.dir, "config.json") + ": line 3 column 21: malformed JSON"
	if res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("code %d, stderr %q; want 1 and %q", res.code, res.stderr, want)
	}
	if _, msg := r.lastLog(); !strings.Contains(msg, want) {
		t.Errorf("log msg %q; want %q", msg, want)
	}
	res = r.run("create", "--bundle", filepath.Join(b.dir, "nonexistent"), id)
	if res.code != 1 || !strings.Contains(res.stderr, "cannot read the bundle's config.json") {
		t.Errorf("missing bundle: code %d, stderr %q", res.code, res.stderr)
	}
}

// The real runtime's own errors reach the caller exactly as without
// tend-runc: same exit code, same output, same log entry.
func TestRuncErrorsPassThrough(t *testing.T) {
	need(t)
	cases := [][]string{
		{"state", "no-such-container"},
		{"kill", "no-such-container", "TERM"},
		{"delete", "no-such-container"},
	}
	for _, args := range cases {
		plain, wrapped := newRuntime(t, "runc"), newRuntime(t, tendRunc)
		p, w := plain.run(args...), wrapped.run(args...)
		if p.code == 0 || p.code != w.code || p.stdout != w.stdout || p.stderr != w.stderr {
			t.Errorf("%v: runc %+v, tend-runc %+v", args, p, w)
		}
		_, pm := plain.lastLog()
		_, wm := wrapped.lastLog()
		if pm != wm || pm == "" {
			t.Errorf("%v: log msg: runc %q, tend-runc %q", args, pm, wm)
		}
	}
	// A container the real runtime refuses (an ID already in use):
	// runc's message, passed through.
	b := newBundle(t, "sleep", "60")
	b.write()
	r := newRuntime(t, tendRunc)
	id := randomID("dup-")
	r.cleanupContainer(id)
	if res := r.run("create", "--bundle", b.dir, id); res.code != 0 {
		t.Fatalf("create: %+v", res)
	}
	rewritten := b.config()
	res := r.run("create", "--bundle", b.dir, id)
	if _, msg := r.lastLog(); res.code == 0 || !strings.Contains(msg, "already exists") || strings.Contains(msg, "tend-runc") {
		t.Errorf("duplicate create: code %d, log %q; want runc's own \"already exists\"", res.code, msg)
	}
	// A second create from the same bundle (another ID) does not rewrite
	// the rewritten config.json again.
	id2 := randomID("dup2-")
	r.cleanupContainer(id2)
	if res := r.run("create", "--bundle", b.dir, id2); res.code != 0 {
		t.Errorf("second create: %+v", res)
	}
	if again := b.config(); string(again) != string(rewritten) {
		t.Errorf("config.json changed by a second create:\n%s\n%s", rewritten, again)
	}
	r.run("delete", "--force", id2)
	// Passing through exec, state, kill and delete on a created container.
	if res := r.run("start", id); res.code != 0 {
		t.Fatalf("start: %+v", res)
	}
	if res := r.run("exec", id, "cat", "/proc/1/comm"); res.code != 0 || res.stdout != "tend\n" {
		t.Errorf("exec: %+v", res)
	}
	if res := r.run("state", id); !strings.Contains(res.stdout, `"status": "running"`) {
		t.Errorf("state: %+v", res)
	}
	if res := r.run("delete", "--force", id); res.code != 0 {
		t.Errorf("delete --force: %+v", res)
	}
}

// The real runtime: missing, or tend-runc itself.
func TestRuncRealRuntimeErrors(t *testing.T) {
	need(t)
	b := newBundle(t, "true")
	before := b.write()
	for _, c := range []struct{ runtime, want string }{
		{"/no/such/runc", "real OCI runtime /no/such/runc (from TEND_RUNC_RUNTIME): no such file or directory"},
		{tendRunc, "is tend-runc itself"},
	} {
		r := newRuntime(t, tendRunc)
		r.env = []string{"TEND_RUNC_RUNTIME=" + c.runtime}
		res := r.run("run", "--bundle", b.dir, randomID("rt-"))
		if _, msg := r.lastLog(); res.code != 1 || !strings.Contains(msg, c.want) || !strings.Contains(res.stderr, c.want) {
			t.Errorf("TEND_RUNC_RUNTIME=%s: code %d, log %q, stderr %q; want %q", c.runtime, res.code, msg, res.stderr, c.want)
		}
	}
	if !reflect.DeepEqual(b.config(), before) {
		t.Error("config.json rewritten although the runtime could not be run")
	}
}
