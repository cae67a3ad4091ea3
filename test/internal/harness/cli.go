package harness

import (
	"bytes"
	"context"
	"os/exec"
	"time"
)

// CLI runs `tend ARGS... --socket SOCK` (the init under test, with
// CleanEnv's environment) and returns its exit code, stdout, stderr and how
// long it took. The code is -1 when tend did not exit normally (it could
// not be started, or a signal killed it) and -2 when it had not exited
// within timeout (it is killed then; stderr then ends with its /proc state).
func (e *Env) CLI(sock string, timeout time.Duration, args ...string) (code int, stdout, stderr string, took time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Tend, append(append([]string{}, args...), "--socket", sock)...)
	cmd.Env = CleanEnv(nil)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	state := StateOnCancel(cmd)
	t0 := time.Now()
	err := cmd.Run()
	took = time.Since(t0)
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			code = -2 // timed out
			errb.WriteString("\n--- the CLI did not finish in time:\n" + state())
		}
	}
	return code, out.String(), errb.String(), took
}
