package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTendLinksNoNRI: NRI and what it brings (ttrpc, protobuf, grpc, the
// wasm runtime) are linked into tend-nri only, never into tend, the PID 1
// of every container: its start-up must not pay for them.
func TestTendLinksNoNRI(t *testing.T) {
	gobin := goBin(t)
	out, err := exec.Command(gobin, "list", "-deps", "../tend").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/tend: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !contains(deps, "github.com/tend-sh/tend/internal/inject") && !contains(deps, "github.com/tend-sh/tend/internal/ociruntime") {
		t.Fatalf("go list -deps ./cmd/tend gave no plausible list:\n%s", out)
	}
	for _, d := range deps {
		// regexp (with the unicode tables it initialises) and math/big
		// cost every start of tend heap at init; nothing in it needs them.
		for _, banned := range []string{"github.com/containerd/nri", "github.com/containerd/ttrpc", "google.golang.org/protobuf", "google.golang.org/grpc", "github.com/tetratelabs/wazero", "regexp", "math/big"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("cmd/tend links %s", d)
			}
		}
	}
	// And the check sees them where they are.
	out, err = exec.Command(gobin, "list", "-deps", ".").CombinedOutput()
	if err != nil || !contains(strings.Fields(string(out)), "github.com/containerd/ttrpc") {
		t.Errorf("go list -deps ./cmd/tend-nri does not list ttrpc (err %v): the check would see nothing", err)
	}
}

// goBin is the go command (the tests run under it, so it is there).
func goBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	return p
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
