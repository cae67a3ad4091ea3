package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"

	"github.com/tend-sh/tend/internal/inject"
)

// bound is how long the tests wait for what takes milliseconds on an idle
// machine (load averages of 100 have been seen here).
const bound = 60 * time.Second

// fakeRuntime is NRI's own runtime side (pkg/adaptation, what containerd
// and CRI-O embed) on a socket of the test's own, with two containers
// that exist before any plugin registers.
type fakeRuntime struct {
	t      *testing.T
	r      *adaptation.Adaptation
	synced chan struct{} // a plugin registered and was synchronized
}

func startRuntime(t *testing.T, socket, pluginDir string) *fakeRuntime {
	t.Helper()
	f := &fakeRuntime{t: t, synced: make(chan struct{}, 16)}
	sync := func(ctx context.Context, cb adaptation.SyncCB) error {
		pods := []*api.PodSandbox{{Id: "p0", Name: "old", Namespace: "default"}}
		ctrs := []*api.Container{{Id: "c0", PodSandboxId: "p0", Name: "a", Args: []string{"a"}}, {Id: "c1", PodSandboxId: "p0", Name: "b", Args: []string{"b"}}}
		_, err := cb(ctx, pods, ctrs)
		f.synced <- struct{}{}
		return err
	}
	update := func(context.Context, []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) { return nil, nil }
	launched := pluginDir != ""
	if !launched {
		pluginDir = t.TempDir()
	}
	r, err := adaptation.New("fake-runtime", "v0", sync, update, adaptation.WithSocketPath(socket),
		adaptation.WithPluginPath(pluginDir), adaptation.WithPluginConfigPath(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	f.r = r
	t.Cleanup(r.Stop)
	if !launched {
		<-f.synced // Start synchronizes its launched plugins: none
	}
	return f
}

// waitSynced waits for a plugin's registration.
func (f *fakeRuntime) waitSynced(what string) {
	f.t.Helper()
	select {
	case <-f.synced:
	case <-time.After(bound):
		f.t.Fatalf("%s: no plugin registered within %v", what, bound)
	}
}

// waitAdjusting waits until a creation reaches the registered plugin: the
// sync callback (waitSynced) runs before the runtime adds the plugin to
// those it calls, so a creation right after it may see no plugin (fail
// open: an empty adjustment). Returns the first adjustment with tend's mount.
func (f *fakeRuntime) waitAdjusting(what string) *api.ContainerAdjustment {
	f.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		adj, err := f.create([]string{"app"}, nil)
		if err == nil && len(adj.GetMounts()) == 1 {
			return adj
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: no adjustment by tend-nri within %v: last %v, err %v", what, bound, adj, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// create asks the plugins to adjust a container being created.
func (f *fakeRuntime) create(args []string, ann map[string]string) (*api.ContainerAdjustment, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	rpl, err := f.r.CreateContainer(ctx, &adaptation.CreateContainerRequest{
		Pod:       &api.PodSandbox{Id: "p1", Name: "web", Namespace: "default"},
		Container: &api.Container{Id: "c9", PodSandboxId: "p1", Name: "app", Args: args, Env: []string{"PATH=/bin"}, Annotations: ann},
	})
	return rpl.GetAdjust(), err
}

// syncBuffer is a log destination safe for the plugin's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// proxy forwards connections on its socket to the runtime's socket; kill
// closes them all, as the death of a runtime does (adaptation.Stop leaves
// external plugins' connections open).
type proxy struct {
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, socket, target string) *proxy {
	t.Helper()
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &proxy{}
	t.Cleanup(p.kill)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestServeRegistersReconnectsStops: tend-nri registers, adjusts through
// the real ttrpc connection, reconnects when the runtime restarts, and
// returns 0 when its context ends (SIGTERM).
func TestServeRegistersReconnectsStops(t *testing.T) {
	dir := t.TempDir()
	socket, real := filepath.Join(dir, "nri.sock"), filepath.Join(dir, "runtime.sock")
	rt := startRuntime(t, real, "")
	px := startProxy(t, socket, real)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newPlugin(self, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- serve(ctx, options{socket: socket, tend: self, index: "10"}, p, log) }()

	rt.waitSynced("first start")
	rt.waitAdjusting("first start")
	if n := p.existing.Load(); n != 2 {
		t.Errorf("existing containers counted %d, want 2", n)
	}
	adj, err := rt.create([]string{"sh", "-c", "app"}, map[string]string{"io.kubernetes.pod.terminationGracePeriod": "30"})
	if err != nil || !reflect.DeepEqual(adj.GetArgs(), []string{inject.TendPath, "--", "sh", "-c", "app"}) || envString(adj.GetEnv()) != "TEND_GRACE=29s" {
		t.Fatalf("adjustment %v, err %v", adj, err)
	}
	if _, err := rt.create([]string{"app"}, map[string]string{"tend.sh/inject": "no"}); err == nil || !strings.Contains(err.Error(), `tend-nri: invalid annotation tend.sh/inject="no"`) {
		t.Errorf("invalid annotation: err %v, want tend's message", err)
	}

	// The runtime restarts: tend-nri connects again.
	rt.r.Stop()
	px.kill()
	rt2 := startRuntime(t, real, "")
	rt2.waitSynced("after the runtime's restart")
	rt2.waitAdjusting("after the runtime's restart")

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve returned %d, want 0", code)
		}
	case <-time.After(bound):
		t.Fatalf("serve did not return within %v of the signal\n%s", bound, logs.String())
	}
	if !strings.Contains(logs.String(), "connection to the runtime lost") || strings.Count(logs.String(), "msg=registered") != 2 {
		t.Errorf("log does not show the loss and two registrations:\n%s", logs.String())
	}
}

// buildBinary builds tend-nri into a directory of its own, beside a file
// named tend (its default --tend).
func buildBinary(t *testing.T) (bin, tend string) {
	t.Helper()
	dir := t.TempDir()
	bin, tend = filepath.Join(dir, "tend-nri"), filepath.Join(dir, "tend")
	cmd := exec.Command(goBin(t), "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.WriteFile(tend, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, tend
}

// TestBinary: the built command line contract — registers on --socket
// within the bound, exits 0 on SIGTERM; runtime-launched through a
// symlink NN-tend in the plugin directory, with no arguments, it registers
// on the inherited connection and mounts the tend beside it.
func TestBinary(t *testing.T) {
	bin, tend := buildBinary(t)

	t.Run("socket, SIGTERM", func(t *testing.T) {
		socket := filepath.Join(t.TempDir(), "nri.sock")
		rt := startRuntime(t, socket, "")
		var stderr syncBuffer
		cmd := exec.Command(bin, "--socket", socket, "--tend", tend, "--index", "42", "-v")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited }) // by its pid; a no-op once it exited
		start := time.Now()
		rt.waitSynced("tend-nri --socket")
		t.Logf("registered %v after the start", time.Since(start))
		if adj := rt.waitAdjusting("tend-nri --socket"); adj.GetMounts()[0].Source != tend {
			t.Errorf("adjustment %v; want the mount of %s", adj, tend)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			if err != nil {
				t.Errorf("exit after SIGTERM: %v, want 0\n%s", err, stderr.String())
			}
		case <-time.After(bound):
			t.Fatalf("no exit within %v of SIGTERM\n%s", bound, stderr.String())
		}
		for _, want := range []string{"msg=registered plugin=42-tend", "msg=\"tend injected\"", "msg=\"stopped (signal)\""} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
		}
	})

	t.Run("runtime-launched", func(t *testing.T) {
		plugins := t.TempDir()
		if err := os.Symlink(bin, filepath.Join(plugins, "10-tend")); err != nil {
			t.Fatal(err)
		}
		// Start launches the plugins of the directory and synchronizes them
		// before it returns; Stop (cleanup) kills and waits for them.
		rt := startRuntime(t, filepath.Join(t.TempDir(), "nri.sock"), plugins)
		rt.waitSynced("launched 10-tend")
		if adj := rt.waitAdjusting("launched 10-tend"); adj.GetMounts()[0].Source != tend {
			t.Errorf("adjustment %v; want the mount of %s (beside tend-nri)", adj, tend)
		}
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"--index", "5", "--tend", tend}, {"--tend", "/no/such/tend"}, {"--tend", tend, "extra"}, {"--bogus"}} {
			err := exec.Command(bin, args...).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
				t.Errorf("tend-nri %q: %v, want exit 2", args, err)
			}
		}
	})
}
