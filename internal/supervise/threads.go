package supervise

import (
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// spareThreads is how many idle OS threads tend keeps in reserve when a
// process limit applies to it.
const spareThreads = 8

// reserveThreads guards against a fatal error: a Go program that cannot
// create an OS thread when it needs one dies ("failed to create new OS
// thread"), and tend is PID 1. RLIMIT_NPROC counts every process and
// thread of a uid, so services running as tend's own uid can use it up.
// The limit does not apply to root; otherwise tend makes the runtime create
// spareThreads threads now, before any service runs, and park them idle:
// the runtime reuses idle threads before creating new ones. They sleep and
// cost no wakeups.
func reserveThreads() {
	if unix.Getuid() == 0 {
		return
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NPROC, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
		return
	}
	// Reserve no more than the limit leaves: creating the reserve must not
	// itself be what fails. Two less: the first LockOSThread also starts
	// the runtime's template thread, and one is kept for luck.
	n := min(spareThreads, int(min(lim.Cur, 1<<20))-uidTasks(unix.Getuid())-2)
	if n <= 0 {
		return
	}
	var locked, release sync.WaitGroup
	locked.Add(n)
	release.Add(1)
	for i := 0; i < n; i++ {
		go func() {
			// While this goroutine holds its thread, the others need new
			// ones; unlocked before it ends, the thread returns to the
			// runtime's idle pool instead of exiting.
			runtime.LockOSThread()
			locked.Done()
			release.Wait()
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	release.Done()
}

// uidTasks counts the threads of every process whose /proc directory uid
// owns: what RLIMIT_NPROC counts against uid.
func uidTasks(uid int) int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+p.Name(), &st) != nil || int(st.Uid) != uid {
			continue
		}
		if tasks, err := os.ReadDir("/proc/" + p.Name() + "/task"); err == nil {
			n += len(tasks)
		}
	}
	return n
}
