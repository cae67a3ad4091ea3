package spawn

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The child gets the forking thread's signal mask, or none with ClearMask
// (dumb-init's face).
func TestClearMask(t *testing.T) {
	const usr1 = 1 << (unix.SIGUSR1 - 1)
	for _, clear := range []bool{false, true} {
		t.Run(strconv.FormatBool(clear), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "status")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set, old unix.Sigset_t
			set.Val[0] = usr1
			if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
				t.Fatal(err)
			}
			defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
			pid, err := Start(&Spec{Argv: []string{"grep", "^SigBlk", "/proc/self/status"}, Env: []string{"PATH=" + DefaultPath}, Files: []uintptr{0, f.Fd(), 2}, ClearMask: clear})
			if err != nil {
				t.Fatal(err)
			}
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
				t.Fatalf("grep: %v %v", err, ws)
			}
			b, _ := os.ReadFile(out)
			v, _ := strings.CutPrefix(strings.TrimSpace(string(b)), "SigBlk:")
			blk, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			if got := blk&usr1 != 0; got == clear {
				t.Errorf("ClearMask=%v: child SigBlk %016x, SIGUSR1 blocked: %v", clear, blk, got)
			}
			if clear && blk != 0 {
				t.Errorf("ClearMask: child SigBlk %016x, want 0", blk)
			}
		})
	}
}
