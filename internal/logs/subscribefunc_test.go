package logs

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// SubscribeFunc gets every line of its services, in Seq order, with its
// own copy of the text, and nothing once Close has returned.
func TestSubscribeFunc(t *testing.T) {
	m := New(Options{Stdout: io.Discard, Stderr: io.Discard})
	var mu sync.Mutex
	var got []Line
	sub := m.SubscribeFunc(func(l Line) {
		mu.Lock()
		got = append(got, l)
		mu.Unlock()
	}, "a")
	if sub.C != nil {
		t.Errorf("C is not nil")
	}
	const n = 3000 // more than a channel subscription buffers
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	for _, svc := range []string{"a", "b"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		m.Attach(svc, Stdout, r)
		go func() {
			io.WriteString(w, in.String())
			w.Close()
		}()
	}
	wait(t, m)
	sub.Close()
	sub.Close()
	mu.Lock()
	before := len(got)
	mu.Unlock()
	if before != n {
		t.Fatalf("delivered %d lines, want %d", len(got), n)
	}
	for i, l := range got {
		if want := fmt.Sprintf("line %d", i); string(l.Text) != want || l.Seq != uint64(i+1) || l.Service != "a" {
			t.Fatalf("line %d: %+v, want %q", i, l, want)
		}
	}
	// After Close: no more calls.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	m.Attach("a", Stdout, r)
	io.WriteString(w, "late\n")
	w.Close()
	wait(t, m)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != before {
		t.Errorf("%d lines delivered after Close", len(got)-before)
	}
}
