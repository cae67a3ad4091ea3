package control

import (
	"fmt"
	"sync"

	"github.com/tend-sh/tend/internal/logs"
)

// Limits on what "tend logs -f" followers may hold in tend's memory.
const (
	// FollowBudget is the most log text queued for all followers together.
	FollowBudget = 16 << 20
	// FollowerBudget is the most queued for one follower: one that falls
	// this far behind is dropped (told why, if it ever reads again).
	FollowerBudget = 4 << 20
	// MaxFollowers is how many followers may stream at once.
	MaxFollowers = 256
	// lineCost is what a queued line costs beyond its text.
	lineCost = 96
)

// followBudget is the byte budget shared by every follower of a server.
// One mutex guards it and every follower's queue: deliveries are short
// (append and return), and the log hot path calls them only while someone
// follows.
type followBudget struct {
	mu          sync.Mutex
	total, each int // FollowBudget, FollowerBudget (tests shrink them)
	max         int // MaxFollowers
	used        int
	fs          map[*follower]struct{}
}

func newFollowBudget(total, each, max int) *followBudget {
	return &followBudget{total: total, each: each, max: max, fs: map[*follower]struct{}{}}
}

// follower is one logs -f stream's queue of lines not yet written.
type follower struct {
	b       *followBudget
	q       []logs.Line
	head    int
	bytes   int
	dropped string        // why it was dropped; "" while it follows
	wake    chan struct{} // cap 1: something to write, or dropped
}

// add registers a new follower, or fails when there are too many.
func (b *followBudget) add() (*follower, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.fs) >= b.max {
		return nil, fmt.Errorf("too many log followers (limit %d); try again later", b.max)
	}
	f := &follower{b: b, wake: make(chan struct{}, 1)}
	b.fs[f] = struct{}{}
	return f, nil
}

// remove unregisters f and frees what it holds.
func (b *followBudget) remove(f *follower) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.release(f)
	delete(b.fs, f)
}

func (b *followBudget) release(f *follower) {
	b.used -= f.bytes
	f.bytes, f.q, f.head = 0, nil, 0
}

// drop ends f's stream: its queue is freed at once, and its writer sends
// the reason and closes.
func (b *followBudget) drop(f *follower, queued int) {
	f.dropped = fmt.Sprintf("this follower fell behind and was dropped: %s of log lines were waiting for it (limits: %s per follower, %s for all followers together); other followers are not affected; run tend logs -f again to resume (tend logs -n N shows what was missed)",
		mib(queued), mib(b.each), mib(b.total))
	b.release(f)
	delete(b.fs, f)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// deliver queues l for f without blocking. A follower that would exceed
// its own budget is dropped; when all followers together would exceed the
// global budget, the one furthest behind (most bytes queued) is dropped
// until l fits — f itself, if it is that one.
func (f *follower) deliver(l logs.Line) {
	b := f.b
	n := len(l.Text) + lineCost
	b.mu.Lock()
	defer b.mu.Unlock()
	if f.dropped != "" {
		return
	}
	if f.bytes+n > b.each {
		b.drop(f, f.bytes+n)
		return
	}
	for b.used+n > b.total {
		var worst *follower
		for g := range b.fs {
			if worst == nil || g.bytes > worst.bytes {
				worst = g
			}
		}
		if worst == nil || worst.bytes == 0 {
			break // nothing queued anywhere: l alone is allowed
		}
		b.drop(worst, worst.bytes)
		if worst == f {
			return
		}
	}
	f.q = append(f.q, l)
	f.bytes += n
	b.used += n
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// next returns the oldest queued line; ok is false when the queue is empty.
// dropped is the reason once f was dropped.
func (f *follower) next() (l logs.Line, ok bool, dropped string) {
	b := f.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if f.dropped != "" {
		return l, false, f.dropped
	}
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
		return l, false, ""
	}
	l = f.q[f.head]
	f.q[f.head] = logs.Line{}
	f.head++
	if f.head >= 1024 && 2*f.head > len(f.q) { // keep the array bounded by what is queued
		k := copy(f.q, f.q[f.head:])
		clear(f.q[k:])
		f.q, f.head = f.q[:k], 0
	}
	n := len(l.Text) + lineCost
	f.bytes -= n
	b.used -= n
	return l, true, ""
}
