// Package oci tests tend-runc, the OCI runtime wrapper, with real
// components: the machine's runc on a bundle built from busybox-static and
// test/testprog (runc_test.go), and the machine's containerd through
// Docker's own containerd socket, in a containerd namespace of the test's
// own, with an image built FROM scratch by `docker build` and moved with
// `docker save | ctr image import` (containerd_test.go); and a private
// dockerd of the test's own (own data-root, exec-root, socket and config,
// no bridge or iptables) configured with README's daemon.json
// (docker_test.go).
//
// Needs root, runc, a static busybox (/bin/busybox: apt-get install
// busybox-static) and, for the containerd and Docker tests, ctr, docker,
// dockerd and the socket
// /var/run/docker/containerd/containerd.sock (TEND_CONTAINERD_SOCK to use
// another). Without them the tests are skipped with a loud banner;
// TEND_REQUIRE_OCI=1 turns every such skip into a failure.
//
// Everything a test creates (runc containers under a --root of its own,
// containerd containers, tasks, snapshots, images and the namespace, the
// Docker image, the private dockerd by its pid and its directories) is
// removed by ID in t.Cleanup, also when the test fails. The machine's
// dockerd and containerd are only used as clients use them: never
// reconfigured, restarted or signalled.
package oci

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tend-sh/tend/test/internal/harness"
)

var (
	env      *harness.Env
	tendRunc string // a symlink named tend-runc to the built tend
	rootfs   string // shared read-only root filesystem of the runc bundles
	ociSkip  string // why runc tests cannot run ("" when they can)
	setupErr error  // building the rootfs or the symlink failed: every test fails
)

const busybox = "/bin/busybox"

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Config{Name: "oci"}, func(e *harness.Env) {
		env = e
		if e.SkipReason != "" || e.BuildErr != nil {
			return
		}
		if err := setup(); err != nil {
			fmt.Fprintln(os.Stderr, "oci: setup:", err)
			setupErr = err
		}
		if ociSkip != "" {
			reportSkip("oci", ociSkip)
			fmt.Fprintf(os.Stderr, "\n"+
				"############################################################\n"+
				"## SKIPPING tend oci tests: %s\n"+
				"## (TEND_REQUIRE_OCI=1 makes this fatal)\n"+
				"############################################################\n\n", ociSkip)
		}
	}))
}

// reportSkip writes a skipped suite's reason to the Makefile's skip report
// (TEND_SKIP_REPORT) once: go test hides a passing package's banner.
func reportSkip(suite, why string) {
	if reported[suite+why] {
		return
	}
	reported[suite+why] = true
	harness.ReportSkip(suite, why)
}

var reported = map[string]bool{}

func setup() error {
	if _, err := exec.LookPath("runc"); err != nil {
		ociSkip = "runc not found in PATH"
		return nil
	}
	if _, err := os.Stat(busybox); err != nil {
		ociSkip = busybox + " not found (apt-get install busybox-static)"
		return nil
	}
	dir := filepath.Join(env.BinDir, "oci")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tendRunc = filepath.Join(dir, "tend-runc")
	if err := os.Symlink(env.Tend, tendRunc); err != nil {
		return err
	}
	rootfs = filepath.Join(dir, "rootfs")
	return buildRootfs(rootfs)
}

// buildRootfs makes a tiny root filesystem: busybox with its applets,
// testprog, and tini-static when the machine has it (an image that starts
// with an init).
func buildRootfs(dir string) error {
	for _, d := range []string{"bin", "sbin", "out", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(busybox, filepath.Join(dir, "bin/busybox")); err != nil {
		return err
	}
	for _, a := range []string{"sh", "cat", "echo", "id", "sleep", "tty", "test", "ls", "stat", "true", "env", "tr"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			return err
		}
	}
	if err := copyFile(env.Testprog, filepath.Join(dir, "bin/testprog")); err != nil {
		return err
	}
	if p, err := exec.LookPath("tini-static"); err == nil {
		if err := copyFile(p, filepath.Join(dir, "sbin/tini-static")); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n"), 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// need skips the test (loudly) when tend-runc cannot be tested here, or
// fails it under TEND_REQUIRE_OCI=1.
func need(t *testing.T) {
	t.Helper()
	if env.SkipReason != "" && os.Getenv("TEND_REQUIRE_OCI") == "1" {
		t.Fatalf("TEND_REQUIRE_OCI=1 but: %s", env.SkipReason)
	}
	env.Need(t)
	if setupErr != nil {
		t.Fatal("setup: ", setupErr)
	}
	if ociSkip != "" {
		if os.Getenv("TEND_REQUIRE_OCI") == "1" {
			t.Fatalf("TEND_REQUIRE_OCI=1 but: %s", ociSkip)
		}
		t.Skip("SKIPPED: " + ociSkip)
	}
}
