// Package release tests `make release`: static tend and tend-nri for
// linux/amd64 and linux/arm64 with a SHA256SUMS that matches them.
package release

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRelease runs `make release` into a directory of its own and checks
// every binary (ELF machine, static: no interpreter, no shared library),
// SHA256SUMS, and runs the arm64 tend's --version under qemu-user where the
// machine has it (qemu-aarch64[-static]); else the ELF check is the proof.
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: make release cross-compiles four binaries")
	}
	out := t.TempDir()
	const version = "v0.0.0-releasetest"
	// A bound against a hang only: four cold cross-compiles on a loaded
	// 2-core machine take minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", "../..", "release", "RELEASE="+out, "VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, b)
	}

	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	var want []string
	for _, cmd := range []string{"tend", "tend-nri"} {
		for arch, m := range machines {
			name := cmd + "-linux-" + arch
			want = append(want, name)
			checkStatic(t, filepath.Join(out, name), m)
		}
	}

	sums := readSums(t, filepath.Join(out, "SHA256SUMS"))
	if len(sums) != len(want) {
		t.Errorf("SHA256SUMS lists %d files, want %d: %v", len(sums), len(want), sums)
	}
	for _, name := range want {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		if got := sums[name]; got != hex.EncodeToString(h[:]) {
			t.Errorf("SHA256SUMS: %s = %q, want %x", name, got, h)
		}
	}

	// The arm64 build runs, and reports the version it was built with.
	arm := filepath.Join(out, "tend-linux-arm64")
	var qemu string
	for _, q := range []string{"qemu-aarch64-static", "qemu-aarch64"} {
		if p, err := exec.LookPath(q); err == nil {
			qemu = p
			break
		}
	}
	if qemu == "" {
		t.Logf("no qemu-aarch64[-static] here (apt-get install qemu-user): the arm64 build is checked by its ELF header only")
		return
	}
	b, err := exec.CommandContext(ctx, qemu, arm, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(b)) != "tend "+version {
		t.Errorf("%s %s --version: %v, output %q; want %q", qemu, arm, err, b, "tend "+version)
	}
}

// checkStatic: an executable for machine m with no program interpreter and
// no shared library (a static binary runs on any Linux of that machine).
func checkStatic(t *testing.T, path string, m elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != m || f.Type != elf.ET_EXEC || f.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("%s: class %v machine %v type %v abi %v; want ELFCLASS64 %v ET_EXEC", path, f.Class, f.Machine, f.Type, f.OSABI, m)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: has %v: not static", path, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s: shared libraries %v (%v)", path, libs, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("%s: not executable by all: %v %v", path, st.Mode(), err)
	}
}

// readSums parses sha256sum's output: "HEX  NAME" per line.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || len(f[0]) != 64 {
			t.Errorf("SHA256SUMS: malformed line %q", sc.Text())
			continue
		}
		sums[f[1]] = f[0]
	}
	return sums
}
