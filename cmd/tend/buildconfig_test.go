package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/opts"
	"github.com/tend-sh/tend/internal/supervise"
)

// TestBuildConfigGrace: the start and every reload decide the grace and
// the services the same way: --grace or TEND_GRACE wins over the file's
// grace, the file's over the default; a reload reads the file's new grace
// unless the flag decided it; with -- CMD the main service comes last and
// waits for every service of the file.
func TestBuildConfigGrace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tend.toml")
	write := func(grace string) {
		t.Helper()
		src := "[service.web]\ncommand = \"web\"\n"
		if grace != "" {
			src = "grace = \"" + grace + "\"\n" + src
		}
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name             string
		args             []string
		env              map[string]string
		fileGrace        string
		start, reloaded  time.Duration // the file's grace becomes 9s before the reload
		services, inMain []string
	}{
		{name: "file's grace", args: []string{"-c", file}, fileGrace: "3s", start: 3 * time.Second, reloaded: 9 * time.Second, services: []string{"web"}},
		{name: "default", args: []string{"-c", file}, start: 10 * time.Second, reloaded: 9 * time.Second, services: []string{"web"}},
		{name: "--grace wins", args: []string{"--grace", "7s", "-c", file}, fileGrace: "3s", start: 7 * time.Second, reloaded: 7 * time.Second, services: []string{"web"}},
		{name: "TEND_GRACE wins", args: []string{"-c", file}, env: map[string]string{"TEND_GRACE": "5s"}, fileGrace: "3s", start: 5 * time.Second, reloaded: 5 * time.Second, services: []string{"web"}},
		{name: "with a main", args: []string{"-c", file, "--", "app"}, fileGrace: "3s", start: 3 * time.Second, reloaded: 9 * time.Second, services: []string{"web", supervise.MainName}, inMain: []string{"web"}},
		{name: "single command", args: []string{"--grace", "4s", "--", "app"}, start: 4 * time.Second, reloaded: 4 * time.Second, services: []string{supervise.MainName}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.fileGrace)
			o, err := opts.Parse(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil {
				t.Fatal(err)
			}
			c, def, err := buildConfig(o, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if (c != nil) != services(o) {
				t.Errorf("config loaded = %v, want %v", c != nil, services(o))
			}
			if def.Grace != tt.start {
				t.Errorf("grace at the start = %v, want %v", def.Grace, tt.start)
			}
			if got := supervise.Names(def.Services); !slices.Equal(got, tt.services) {
				t.Errorf("services %q, want %q", got, tt.services)
			}
			if main := def.Services[len(def.Services)-1]; main.Main && !slices.Equal(main.After, tt.inMain) {
				t.Errorf("the main waits for %q, want %q", main.After, tt.inMain)
			}
			write("9s")
			_, def, err = buildConfig(o, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if def.Grace != tt.reloaded {
				t.Errorf("grace after the reload = %v, want %v", def.Grace, tt.reloaded)
			}
		})
	}
}
