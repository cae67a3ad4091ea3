// Package docker runs tend as the ENTRYPOINT of real Docker containers,
// driven through the docker CLI, and runs the same workloads under Docker's
// own `docker run --init` (tini, shipped with dockerd as docker-init) for
// comparison.
//
// Requirements: a Docker engine the `docker` CLI can reach, Go, and a static
// busybox (Debian: apt-get install busybox-static → /bin/busybox; another path
// can be given with TEND_BUSYBOX). No registry is needed: the image is built
// FROM scratch out of the static tend binary, busybox and test/testprog.
// Without them every test is skipped loudly (a banner on stderr and t.Skip);
// TEND_REQUIRE_DOCKER=1 turns that into a failure, for machines that must
// run the suite.
//
// Every image and container the suite creates is recorded by ID and removed
// by ID, also when a test fails. Nothing is removed by name or pattern, and
// nothing is pruned.
//
// TEND_BIN=/path/to/static/tend puts that binary in the image instead of
// building ./cmd/tend.
//
// TEND_DOCKER_TABLE=FILE writes a markdown table comparing the outcome of
// each scenario under tend and under `docker run --init`.
package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tend-sh/tend/test/internal/harness"
)

var (
	skipReason string // set when Docker (or a prerequisite) is missing: every test skips
	setupErr   error  // set when building the binaries or the image failed: every test fails
	imageID    string // ID of the FROM-scratch test image (sha256:...)
	imageTag   string // its per-run tag, tend-e2e:<random>
	tendBin    string // the static tend in the image's build context
	runID      string // random per run; also a label on every container
	hasInit    bool   // dockerd has an init binary (docker run --init works)
)

// busyboxApplets are the symlinks to /bin/busybox the image gets.
var busyboxApplets = []string{
	"sh", "sleep", "ps", "cat", "kill", "ls", "echo", "true", "false", "test",
	"env", "mkdir", "rm", "touch", "grep", "httpd", "nc", "wget", "date",
}

func TestMain(m *testing.M) {
	code := testMain(m)
	os.Exit(code)
}

func testMain(m *testing.M) int {
	// The scenarios mostly wait (for cleanups, grace periods and Docker's
	// stop timeout): run more of them at once than the default GOMAXPROCS,
	// unless -test.parallel was given.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "12")
	}
	if reason := dockerProblem(); reason != "" {
		banner("SKIPPING tend docker tests: " + reason)
		if os.Getenv("TEND_REQUIRE_DOCKER") == "1" {
			fmt.Fprintln(os.Stderr, "FAIL: TEND_REQUIRE_DOCKER=1 but the docker tests cannot run: "+reason)
			return 1
		}
		harness.ReportSkip("docker", reason)
		skipReason = reason
		return m.Run()
	}
	var b [6]byte
	rand.Read(b[:])
	runID = hex.EncodeToString(b[:])
	imageTag = "tend-e2e:" + runID

	dir, err := os.MkdirTemp("", "tend-docker-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildImage(dir); err != nil {
		setupErr = err
		fmt.Fprintf(os.Stderr, "docker tests: setup failed: %v\n", err)
	}
	defer removeImage(imageID)

	code := m.Run()
	if path := os.Getenv("TEND_DOCKER_TABLE"); path != "" && setupErr == nil && skipReason == "" {
		if err := os.WriteFile(path, []byte(outcomeTable()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "docker tests: writing TEND_DOCKER_TABLE: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "docker tests: outcome table written to %s\n", path)
	}
	return code
}

func banner(msg string) {
	fmt.Fprintf(os.Stderr, "\n"+
		"############################################################\n"+
		"## %s\n"+
		"## (needs a reachable Docker engine, Go and a static busybox:\n"+
		"##  apt-get install busybox-static, or TEND_BUSYBOX=/path)\n"+
		"############################################################\n\n", msg)
}

// dockerProblem reports why the suite cannot run here ("" = it can).
func dockerProblem() string {
	if _, err := exec.LookPath("docker"); err != nil {
		return "docker CLI not found in PATH"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{json .InitBinary}}").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("`docker info` failed: %v: %s", err, bytes.TrimSpace(out))
	}
	hasInit = strings.Trim(strings.TrimSpace(string(out)), `"`) != ""
	if _, err := exec.LookPath("go"); err != nil {
		return "go not found in PATH"
	}
	if err := checkStatic(busyboxPath()); err != nil {
		return err.Error()
	}
	return ""
}

func busyboxPath() string {
	if p := os.Getenv("TEND_BUSYBOX"); p != "" {
		return p
	}
	return "/bin/busybox"
}

// checkStatic makes sure path is a statically linked ELF (no interpreter),
// since the image has no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("static busybox %s: %v (apt-get install busybox-static)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; a FROM-scratch image needs a static one (apt-get install busybox-static)", path)
		}
	}
	return nil
}

// buildImage builds tend and testprog statically and the test image in dir.
func buildImage(dir string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	ctxDir := filepath.Join(dir, "context")
	bin := filepath.Join(ctxDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	builds := [][2]string{{"testprog", "./test/testprog"}}
	if bin := os.Getenv("TEND_BIN"); bin != "" {
		fmt.Fprintf(os.Stderr, "docker tests: using TEND_BIN=%s instead of building ./cmd/tend\n", bin)
		if err := checkStatic(bin); err != nil {
			return fmt.Errorf("TEND_BIN: %v", err)
		}
		if err := copyFile(bin, filepath.Join(ctxDir, "tend")); err != nil {
			return err
		}
	} else {
		builds = append(builds, [2]string{"tend", "./cmd/tend"})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(builds))
	for i, p := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-o", filepath.Join(ctxDir, p[0]), p[1])
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", p[1], err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := copyFile(busyboxPath(), filepath.Join(bin, "busybox")); err != nil {
		return err
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(bin, a)); err != nil {
			return err
		}
	}
	if err := os.Symlink("/testprog", filepath.Join(bin, "testprog")); err != nil {
		return err
	}
	if err := os.Symlink("/tend", filepath.Join(bin, "tend")); err != nil {
		return err
	}
	dockerfile := `FROM scratch
COPY bin /bin/
COPY tend testprog /
ENV PATH=/bin
ENTRYPOINT ["/tend", "--"]
CMD ["sh"]
`
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	tendBin = filepath.Join(ctxDir, "tend")
	if help, err := exec.Command(tendBin, "--help").CombinedOutput(); err != nil {
		return fmt.Errorf("tend --help: %v\n%s", err, help)
	}

	iid := filepath.Join(dir, "iid")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "--iidfile", iid, "-t", imageTag,
		"--label", "tend-e2e.run="+runID, ctxDir)
	out, berr := cmd.CombinedOutput()
	if b, err := os.ReadFile(iid); err == nil {
		imageID = strings.TrimSpace(string(b))
	}
	if berr != nil {
		return fmt.Errorf("docker build: %v\n%s", berr, out)
	}
	if imageID == "" {
		return fmt.Errorf("docker build wrote no image ID")
	}
	return nil
}

func removeImage(id string) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// By ID; with -f so the per-run tag goes too.
	if out, err := exec.CommandContext(ctx, "docker", "image", "rm", "-f", id).CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "No such image") {
		fmt.Fprintf(os.Stderr, "docker tests: removing image %s: %v: %s\n", id, err, out)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// needDocker is called first by every test.
func needDocker(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip("SKIPPED (docker tests cannot run here): " + skipReason)
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// ---- running docker ----------------------------------------------------

// docker runs the docker CLI and returns its trimmed stdout; stderr is part
// of the error.
func docker(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func mustDocker(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := docker(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// deadline gives a test its hard deadline: every docker command and wait of
// the test uses the returned context.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// initKind is what runs as PID 1 of a container.
type initKind struct {
	name   string   // "tend", "docker --init"
	column int      // column in the outcome table
	args   []string // docker run options selecting the init
}

var (
	withTend = initKind{name: "tend", column: 0}
	withTini = initKind{name: "docker --init", column: 1, args: []string{"--init", "--entrypoint="}}
	// withNone runs the command itself as PID 1 (control runs only).
	withNone = initKind{name: "no init", column: -1, args: []string{"--entrypoint="}}
)

// reportInitSkip writes the missing init binary to the skip report once.
var reportInitSkip sync.Once

func (k initKind) need(t *testing.T) {
	t.Helper()
	if k.name == withTini.name && !hasInit {
		const why = "dockerd has no init binary (docker info: Init Binary is empty): the docker --init comparison cannot run"
		if os.Getenv("TEND_REQUIRE_DOCKER") == "1" {
			t.Fatal("TEND_REQUIRE_DOCKER=1 but " + why)
		}
		reportInitSkip.Do(func() { harness.ReportSkip("docker --init", why) })
		t.Skip(why)
	}
}

// container is one container created by a test.
type container struct {
	t   *testing.T
	ctx context.Context
	id  string
	out string // host directory bind-mounted at /out
}

// outDir returns a fresh host directory for /out that a container's root can
// write to.
func outDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// commonArgs are the docker run options every container gets.
func commonArgs(out string) []string {
	return []string{"--label", "tend-e2e.run=" + runID, "-v", out + ":/out"}
}

// start runs a detached container (docker run -d) with a fresh /out
// bind-mounted and registers its removal (by ID) as a cleanup.
func start(t *testing.T, ctx context.Context, k initKind, opts []string, cmd ...string) *container {
	t.Helper()
	return startIn(t, ctx, outDir(t), k, opts, cmd...)
}

// startIn is start with a given host directory for /out.
func startIn(t *testing.T, ctx context.Context, out string, k initKind, opts []string, cmd ...string) *container {
	t.Helper()
	c := &container{t: t, ctx: ctx, out: out}
	args := append([]string{"run", "-d"}, commonArgs(out)...)
	args = append(args, k.args...)
	args = append(args, opts...)
	args = append(args, imageID)
	args = append(args, cmd...)
	id, err := docker(ctx, args...)
	if id != "" {
		c.id = id
		registerRemoval(t, id)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func registerRemoval(t *testing.T, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			if logs, err := dockerCombined(ctx, "logs", id); err == nil {
				t.Logf("container %.12s logs (stdout+stderr):\n%s", id, logs)
			}
		}
		if _, err := docker(ctx, "rm", "-f", "-v", id); err != nil {
			t.Errorf("removing container %s: %v", id, err)
		}
	})
}

// dockerCombined returns stdout and stderr of the docker command together
// (docker logs replays a container's stderr on its own stderr).
func dockerCombined(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *container) path(name string) string { return filepath.Join(c.out, name) }

// waitFile waits until /out/name exists in the container.
func (c *container) waitFile(name string) {
	c.t.Helper()
	c.waitFor("/out/"+name+" to appear", func() bool {
		_, err := os.Stat(c.path(name))
		return err == nil
	})
}

// waitContains waits until /out/name contains s.
func (c *container) waitContains(name, s string) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("/out/%s to contain %q", name, s), func() bool {
		b, _ := os.ReadFile(c.path(name))
		return strings.Contains(string(b), s)
	})
}

func (c *container) waitFor(what string, cond func() bool) {
	c.t.Helper()
	for !cond() {
		if c.ctx.Err() != nil {
			c.t.Fatalf("deadline exceeded waiting for %s (container %s: %s)", what, c.short(), c.state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *container) short() string {
	if len(c.id) > 12 {
		return c.id[:12]
	}
	return c.id
}

func (c *container) state() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := docker(ctx, "inspect", "-f", "{{.State.Status}} exit={{.State.ExitCode}} pid={{.State.Pid}}", c.id)
	if err != nil {
		return err.Error()
	}
	// The container's init (tend) as the host's kernel sees it, so that
	// a "did not ... in time" failure explains itself.
	if _, p, ok := strings.Cut(s, " pid="); ok {
		if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
			s += "\n" + harness.ProcState(pid)
		}
	}
	return s
}

// read returns the content of /out/name, "" when it does not exist.
func (c *container) read(name string) (string, bool) {
	b, err := os.ReadFile(c.path(name))
	return string(b), err == nil
}

// stop runs `docker stop -t timeout` and returns how long it took.
func (c *container) stop(timeout int) time.Duration {
	c.t.Helper()
	t0 := time.Now()
	mustDocker(c.t, c.ctx, "stop", "-t", strconv.Itoa(timeout), c.id)
	return time.Since(t0)
}

// wait returns the container's exit code (docker wait).
func (c *container) wait() int {
	c.t.Helper()
	out := mustDocker(c.t, c.ctx, "wait", c.id)
	code, err := strconv.Atoi(out)
	if err != nil {
		c.t.Fatalf("docker wait %s: %q: %v", c.short(), out, err)
	}
	// Cross-check with docker inspect.
	if s := mustDocker(c.t, c.ctx, "inspect", "-f", "{{.State.ExitCode}}", c.id); s != out {
		c.t.Errorf("docker wait said %s, docker inspect says %s", out, s)
	}
	return code
}

func (c *container) logs() string {
	c.t.Helper()
	out, err := dockerCombined(c.ctx, "logs", c.id)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *container) exec(args ...string) (string, error) {
	return docker(c.ctx, append([]string{"exec", c.id}, args...)...)
}

// ---- outcome table -------------------------------------------------------

type row struct {
	key, title string
}

// tableRows fixes the order of the table's rows.
var tableRows = []row{
	{"1a", "1a `docker stop`: app trapping SIGTERM behind a shell wrapper"},
	{"1b", "1b `docker stop`: setsid (double-forked) daemon"},
	{"1c", "1c `docker stop`: leftover background worker"},
	{"1d", "1d `docker stop`: app ignoring SIGTERM (TEND_GRACE=2s, stop -t 10)"},
	{"2a", "2a `docker kill -s HUP` / `-s USR1` forwarded"},
	{"2b", "2b 500 orphans reaped (no zombies)"},
	{"3", "3 multi-service config, critical service fails"},
	{"4", "4 `docker run -t -i`: Ctrl-C reaches the foreground program"},
	{"5", "5 HEALTHCHECK with `tend wait-ready`"},
}

var (
	tableMu sync.Mutex
	table   = map[string][2]string{}
)

// record stores the outcome of scenario key under init k.
func record(k initKind, key, cell string) {
	if k.column < 0 {
		return
	}
	tableMu.Lock()
	defer tableMu.Unlock()
	r := table[key]
	r[k.column] = cell
	table[key] = r
}

func outcomeTable() string {
	tableMu.Lock()
	defer tableMu.Unlock()
	var b strings.Builder
	b.WriteString("| scenario | tend | docker run --init (tini) |\n|---|---|---|\n")
	known := map[string]bool{}
	for _, r := range tableRows {
		known[r.key] = true
		cells := table[r.key]
		for i := range cells {
			if cells[i] == "" {
				cells[i] = "not run"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.title, cells[0], cells[1])
	}
	var extra []string
	for k := range table {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", k, table[k][0], table[k][1])
	}
	return b.String()
}
