package inject

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tend-sh/tend/internal/compat"
)

// TestInits: every name the tend binary is an init under (compat's one
// list) is left alone, the list is what the README says, and a command is
// matched by its first argument's basename only.
func TestInits(t *testing.T) {
	for _, n := range compat.InitNames() {
		if !slices.Contains(Inits, n) {
			t.Errorf("Inits lacks %q, a name tend answers to as an init (compat.InitNames)", n)
		}
	}
	if !slices.IsSorted(Inits) || len(slices.Compact(slices.Clone(Inits))) != len(Inits) {
		t.Errorf("Inits not sorted or not unique: %q", Inits)
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	_, after, ok := strings.Cut(doc, "a command whose first argument's basename is already an init: ")
	para, _, ok2 := strings.Cut(after, "The list is `inject.Inits`")
	if !ok || !ok2 {
		t.Fatal("README: the list of inits left alone not found")
	}
	para, _, _ = strings.Cut(para, "(") // "(s6-overlay's `/init`, ...)" are paths, not names
	var listed []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(para, -1) {
		listed = append(listed, m[1])
	}
	if got := slices.Sorted(slices.Values(listed)); !slices.Equal(got, Inits) {
		t.Errorf("README lists %q, Inits is %q", got, Inits)
	}
	for _, tt := range []struct {
		arg0 string
		want bool
	}{
		{"/sbin/docker-init", true},
		{"tini-static", true},
		{"/usr/local/bin/dumb-init", true},
		{"/init", true},
		{"tend", true},
		{"tend-runc", false}, // a runtime, not a container's init
		{"tini2", false},
		{"/bin/sh", false},
	} {
		if got := isInit(tt.arg0); got != tt.want {
			t.Errorf("isInit(%q) = %v, want %v", tt.arg0, got, tt.want)
		}
	}
}
