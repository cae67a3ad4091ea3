package oci

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/ociruntime"
)

// cmdTimeout bounds every runtime command (generous: load averages of 100
// have been seen on this machine).
const cmdTimeout = 90 * time.Second

// bundle is an OCI bundle: `runc spec`'s config (decoded generically, so
// the test can add fields tend-runc does not know) over the shared rootfs,
// with a host directory bind-mounted read-write at /out.
type bundle struct {
	t    *testing.T
	dir  string
	out  string
	spec map[string]any
}

func newBundle(t *testing.T, args ...string) *bundle {
	t.Helper()
	b := &bundle{t: t, dir: t.TempDir(), out: t.TempDir()}
	if err := os.Chmod(b.out, 0o777); err != nil { // non-root containers write here
		t.Fatal(err)
	}
	if out, err := exec.Command("runc", "spec", "--bundle", b.dir).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(b.dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &b.spec); err != nil {
		t.Fatal(err)
	}
	b.spec["root"] = map[string]any{"path": rootfs, "readonly": true}
	p := b.proc()
	p["terminal"] = false
	p["args"] = args
	b.spec["mounts"] = append(b.spec["mounts"].([]any), map[string]any{
		"destination": "/out", "type": "bind", "source": b.out, "options": []any{"rbind", "rw"},
	})
	return b
}

func (b *bundle) proc() map[string]any { return b.spec["process"].(map[string]any) }

func (b *bundle) annotate(kv ...string) {
	a, _ := b.spec["annotations"].(map[string]any)
	if a == nil {
		a = map[string]any{}
		b.spec["annotations"] = a
	}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
}

func (b *bundle) write() []byte {
	b.t.Helper()
	data, err := json.MarshalIndent(b.spec, "", "  ")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return data
}

func (b *bundle) config() []byte {
	data, err := os.ReadFile(filepath.Join(b.dir, "config.json"))
	if err != nil {
		b.t.Fatal(err)
	}
	return data
}

// runtime runs one OCI runtime binary (runc or tend-runc) with a state
// --root of the test's own and a json --log file, as containerd's shim does.
type runtime struct {
	t    *testing.T
	bin  string
	root string
	log  string
	env  []string // extra environment
}

func newRuntime(t *testing.T, bin string) *runtime {
	dir := t.TempDir()
	return &runtime{t: t, bin: bin, root: filepath.Join(dir, "state"), log: filepath.Join(dir, "log.json")}
}

type result struct {
	code           int
	stdout, stderr string
}

// run executes the runtime with args after the global flags, stdio in
// files; stdin is /dev/null.
func (r *runtime) run(args ...string) result {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	full := append([]string{"--root", r.root, "--log", r.log, "--log-format", "json"}, args...)
	cmd := exec.CommandContext(ctx, r.bin, full...)
	cmd.Env = append(os.Environ(), r.env...)
	var so, se bytes.Buffer
	dir := r.t.TempDir()
	of, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		r.t.Fatal(err)
	}
	ef, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = of, ef
	err = cmd.Run()
	of.Close()
	ef.Close()
	b, _ := os.ReadFile(of.Name())
	so.Write(b)
	b, _ = os.ReadFile(ef.Name())
	se.Write(b)
	res := result{stdout: so.String(), stderr: se.String()}
	// Errorf, not Fatalf: run is also called from goroutines.
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.t.Errorf("%s %v: no exit within %v (killed)\nstdout: %s\nstderr: %s", r.bin, args, cmdTimeout, res.stdout, res.stderr)
		res.code = -1
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		r.t.Errorf("%s %v: %v", r.bin, args, err)
		res.code = -1
	}
	if strings.Contains(res.stderr, "panic") {
		r.t.Errorf("%s %v: stderr mentions a panic:\n%s", r.bin, args, res.stderr)
	}
	return res
}

// runBundle is `run --bundle DIR ID` (create, start, wait, delete), with a
// cleanup that force-deletes the container if it is still there.
func (r *runtime) runBundle(b *bundle, id string, extra ...string) result {
	r.t.Helper()
	r.cleanupContainer(id)
	return r.run(append(append([]string{"run", "--bundle", b.dir}, extra...), id)...)
}

func (r *runtime) cleanupContainer(id string) {
	r.t.Cleanup(func() {
		exec.Command("runc", "--root", r.root, "delete", "--force", id).Run()
	})
}

// lastLog is the last entry of the json --log file.
func (r *runtime) lastLog() (level, msg string) {
	r.t.Helper()
	data, err := os.ReadFile(r.log)
	if err != nil {
		r.t.Fatalf("log file: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var e struct{ Level, Msg, Time string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
		r.t.Fatalf("log line %q is not json: %v", lines[len(lines)-1], err)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
		r.t.Errorf("log line %q: time: %v", lines[len(lines)-1], err)
	}
	return e.Level, e.Msg
}

func randomID(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// waitFile polls for path until it exists (or the deadline).
func waitFile(t *testing.T, path string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// argsOf is process.args of a config.json.
func argsOf(t *testing.T, data []byte) []string {
	t.Helper()
	var s struct {
		Process struct{ Args []string } `json:"process"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	return s.Process.Args
}

var tendPath = ociruntime.TendPath

// scratchContext returns a fresh docker build context for an image FROM
// scratch holding the test rootfs (PATH=/bin:/sbin, command sh).
func scratchContext(t *testing.T) string {
	t.Helper()
	ctxDir := t.TempDir()
	if out, err := exec.Command("cp", "-a", rootfs, filepath.Join(ctxDir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("cp rootfs: %v: %s", err, out)
	}
	df := "FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin:/sbin\nCMD [\"sh\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	return ctxDir
}
