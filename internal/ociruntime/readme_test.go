package ociruntime

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readDoc reads a document of the repository (README.md, BENCHMARKS.md).
func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README lists the tend.sh/ annotations tend-runc accepts twice (the
// "Annotations." paragraph and CRI-O's allowed_annotations): both are the
// list the code accepts (issue 17: crontab was accepted, not listed).
func TestReadmeAnnotations(t *testing.T) {
	readme := readDoc(t, "README.md")
	want := Annotations()
	slices.Sort(want)

	para := readme[strings.Index(readme, "**Annotations.**"):]
	para = para[:strings.Index(para, "\n\n")]
	opts := para[strings.Index(para, "by its long name:"):strings.Index(para, "Values are checked")]
	got := []string{AnnotationInject}
	for _, m := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(opts, -1) {
		got = append(got, AnnotationPrefix+m[1])
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("README's Annotations paragraph lists %v, tend-runc accepts %v", got, want)
	}

	crio := readme[strings.Index(readme, "allowed_annotations = ["):]
	crio = crio[:strings.Index(crio, "]")]
	got = nil
	for _, m := range regexp.MustCompile(`"(tend\.sh/[a-z-]+)"`).FindAllStringSubmatch(crio, -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("README's CRI-O allowed_annotations lists %v, tend-runc accepts %v", got, want)
	}
}

// Every figure the README gives for tend-runc's cost over plain runc is the
// one BENCHMARKS.md measured (issue 17: 1.30× in one place, 1.12× in
// another).
func TestReadmeRuncCost(t *testing.T) {
	bench := readDoc(t, "BENCHMARKS.md")
	row := regexp.MustCompile(`(?m)^\| container create\+start\+exit\+delete, shim sequence.*$`).FindString(bench)
	if row == "" {
		t.Fatal("BENCHMARKS.md has no tend-runc shim-sequence row")
	}
	cells := strings.Split(row, "|")
	// | operation | runc | Go exec floor | inject=false | tend-runc | tend-runc ÷ runc | ...
	ratio := strings.TrimSpace(cells[6]) // e.g. "1.295×"
	measured := regexp.MustCompile(`^(\d+\.\d+)×$`).FindStringSubmatch(ratio)
	if measured == nil {
		t.Fatalf("BENCHMARKS.md's tend-runc ÷ runc cell is %q", ratio)
	}
	want := roundRatio(t, measured[1])
	readme := readDoc(t, "README.md")
	figures := regexp.MustCompile(`(\d+\.\d+)× (?:plain )?runc`).FindAllStringSubmatch(readme, -1)
	if len(figures) == 0 {
		t.Fatal("the README gives no tend-runc cost")
	}
	for _, m := range figures {
		if m[1] != want {
			t.Errorf("README says %s× runc; BENCHMARKS.md measured %s (%s×)", m[1], ratio, want)
		}
	}
}

// roundRatio rounds a decimal ratio ("1.295") to two places, half up, as
// the README writes it ("1.30"); decimal, not float (1.295 is 1.2949999 as
// a float64).
func roundRatio(t *testing.T, r string) string {
	t.Helper()
	whole, frac, _ := strings.Cut(r, ".")
	frac = (frac + "000")[:3]
	n, err := strconv.Atoi(whole + frac)
	if err != nil {
		t.Fatalf("ratio %q: %v", r, err)
	}
	n = (n + 5) / 10 // hundredths
	return fmt.Sprintf("%d.%02d", n/100, n%100)
}
