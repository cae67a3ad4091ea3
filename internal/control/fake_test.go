package control

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tend-sh/tend/internal/logs"
	"github.com/tend-sh/tend/internal/status"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func exitp(n int) *int { return &n }

// fakeBackend is a Backend over a list of services, recording the calls.
type fakeBackend struct {
	mu       sync.Mutex
	services []status.ServiceStatus
	calls    []string
	shutting bool
	err      error // returned by Start/Stop/Restart/Signal/Shutdown when set
	statuses int   // Status calls
	// onStatus, if set, is called (under mu) at every Status call.
	onStatus func(f *fakeBackend)
	// opDelay: start/stop/restart/signal take this long (a start-first
	// restart waits for the new processes to be ready).
	opDelay time.Duration
}

func newFake() *fakeBackend {
	return &fakeBackend{services: []status.ServiceStatus{
		{Name: "web", State: status.Ready, PID: 42, Since: t0, Started: t0, Restarts: 1, LastExit: exitp(143), Ready: true, Health: "healthy"},
		{Name: "db", State: status.Running, PID: 43, Since: t0, Started: t0, Ready: true},
		{Name: "migrate", State: status.Done, Since: t0, Started: t0, LastExit: exitp(0), Ready: true, Oneshot: true},
	}}
}

func (f *fakeBackend) find(names []string) ([]status.ServiceStatus, error) {
	if len(names) == 0 {
		return slices.Clone(f.services), nil
	}
	var out []status.ServiceStatus
	var unknown []string
	for _, n := range names {
		i := slices.IndexFunc(f.services, func(s status.ServiceStatus) bool { return s.Name == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, f.services[i])
	}
	if unknown != nil {
		return nil, UnknownServiceError(unknown...)
	}
	return out, nil
}

func (f *fakeBackend) Status(names []string) ([]status.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses++
	if f.onStatus != nil {
		f.onStatus(f)
	}
	return f.find(names)
}

func (f *fakeBackend) op(what string, names []string) error {
	time.Sleep(f.opDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.find(names); err != nil {
		return err
	}
	if f.err != nil {
		return f.err
	}
	f.calls = append(f.calls, fmt.Sprint(what, " ", names))
	return nil
}

func (f *fakeBackend) Start(names []string) error   { return f.op("start", names) }
func (f *fakeBackend) Stop(names []string) error    { return f.op("stop", names) }
func (f *fakeBackend) Restart(names []string) error { return f.op("restart", names) }
func (f *fakeBackend) Signal(name string, sig syscall.Signal) error {
	return f.op(fmt.Sprintf("signal %d", sig), []string{name})
}

func (f *fakeBackend) Shutdown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.shutting = true
	f.calls = append(f.calls, "shutdown")
	return nil
}

func (f *fakeBackend) ShuttingDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shutting
}

func (f *fakeBackend) Counters() (uint64, uint64) { return 7, 3 }

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeBackend) set(name string, mod func(*status.ServiceStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.services {
		if f.services[i].Name == name {
			mod(&f.services[i])
		}
	}
}

// fakeLogs is a LogSource: a ring per service and subscriptions.
type fakeLogs struct {
	mu     sync.Mutex
	seq    map[string]uint64
	lines  map[string][]logs.Line
	subs   map[int]*fakeSub
	nextID int
	// subscribed receives a value at each Subscribe, cancelled at each
	// cancel (both buffered).
	subscribed, cancelled chan struct{}
}

type fakeSub struct {
	deliver func(logs.Line)
	names   []string
}

func newFakeLogs() *fakeLogs {
	return &fakeLogs{
		seq: map[string]uint64{}, lines: map[string][]logs.Line{}, subs: map[int]*fakeSub{},
		subscribed: make(chan struct{}, 100), cancelled: make(chan struct{}, 100),
	}
}

// add records a line at time t0+sec seconds.
func (l *fakeLogs) add(service string, s logs.Stream, sec int, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq[service]++
	ln := logs.Line{Time: t0.Add(time.Duration(sec) * time.Second), Service: service, Stream: s, Seq: l.seq[service], Text: []byte(text)}
	l.lines[service] = append(l.lines[service], ln)
	for _, sub := range l.subs {
		if len(sub.names) == 0 || slices.Contains(sub.names, service) {
			sub.deliver(ln)
		}
	}
}

func (l *fakeLogs) Tail(service string, n int) []logs.Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := l.lines[service]
	if n < 0 || n > len(all) {
		n = len(all)
	}
	return slices.Clone(all[len(all)-n:])
}

func (l *fakeLogs) Subscribe(names []string, deliver func(logs.Line)) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextID
	l.nextID++
	l.subs[id] = &fakeSub{deliver: deliver, names: names}
	l.subscribed <- struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.subs, id)
			l.mu.Unlock()
			l.cancelled <- struct{}{}
		})
	}
}

var errBoom = errors.New("boom: the supervisor said no")
