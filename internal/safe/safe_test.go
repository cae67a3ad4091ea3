package safe

import (
	"strings"
	"sync"
	"testing"
)

func TestPanicsAreReported(t *testing.T) {
	var mu sync.Mutex
	var got []string
	done := make(chan struct{}, 3)
	SetHandler(func(where string, v any, stack []byte) {
		mu.Lock()
		got = append(got, where+": "+v.(string))
		mu.Unlock()
		if !strings.Contains(string(stack), "safe_test.go") {
			t.Errorf("stack does not show the panicking code:\n%s", stack)
		}
		done <- struct{}{}
	})
	Go("goroutine", func() { panic("boom") })
	<-done
	if Run("call", func() { panic("bang") }) {
		t.Error("Run reported success for a panicking call")
	}
	<-done
	if !Run("fine", func() {}) {
		t.Error("Run reported failure for a normal call")
	}
	func() {
		defer Recover("deferred")
		panic("pow")
	}()
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := []string{"goroutine: boom", "call: bang", "deferred: pow"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
