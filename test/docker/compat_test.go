package docker

import (
	"strings"
	"testing"
	"time"
)

// withTendAsDockerInit is `docker run --init` with dockerd's init-path
// pointing at tend, without reconfiguring the machine's dockerd: what
// dockerd does for --init, done by hand — the init binary bind-mounted at
// /sbin/docker-init and run as `/sbin/docker-init -- CMD...`. tend sees
// the name docker-init and takes tini's command line (internal/compat).
// It shares tend's expectations: column -1 keeps it out of the README table.
func withTendAsDockerInit() initKind {
	return initKind{name: withTend.name, column: -1, args: []string{
		"-v", tendBin + ":/sbin/docker-init:ro", "--entrypoint=/sbin/docker-init"}}
}

// TestDockerInitFace runs scenario 1 (docker stop -t 10 on workloads whose
// cleanup tini cuts short) with tend in docker-init's place: tend's
// shutdown, with tini's command line.
func TestDockerInitFace(t *testing.T) {
	needDocker(t)
	t.Parallel()
	// It is tend, in tini's face.
	ctx := deadline(t, 60*time.Second)
	args := append([]string{"run", "--rm", "--label", "tend-e2e.run=" + runID}, withTendAsDockerInit().args...)
	if out := mustDocker(t, ctx, append(args, imageID, "--version")...); !strings.Contains(out, "standing in for tini") {
		t.Fatalf("/sbin/docker-init --version = %q, want tend standing in for tini", out)
	}
	for _, sc := range stopCases {
		t.Run(sc.key, func(t *testing.T) {
			t.Parallel()
			runStopCase(t, sc, withTendAsDockerInit())
		})
	}
}
