// Package config loads tend's multi-service configuration from a TOML file
// (Load, Parse) or a Procfile (LoadProcfile) into one validated Config.
//
// # File format
//
//	grace = "10s"             # whole-container stop budget
//	log_format = "text"       # text | json
//	log_timestamps = false
//
//	[service.db]
//	command = ["postgres", "-D", "/data"]
//	ready = { tcp = "127.0.0.1:5432", timeout = "30s" }
//
//	[service.web]
//	command = "/app/web --port 8080"
//	after = ["db"]
//
// Every key, its accepted values and its default are documented on the
// Config, Service and Probe fields below. Durations use Go syntax ("500ms",
// "10s", "1m30s").
//
// # Strictness
//
// Every error names the file and line, and the key: unknown keys are errors
// (listing the keys accepted in that table), so a typo never silently does
// nothing; a wrongly typed or out-of-range value is an error listing what is
// accepted; a key given twice is an error. All errors are *Error.
//
// # Environment variables
//
// In every string value (command words, env values, user, workdir, env_file,
// probe targets, durations...) ${VAR} is replaced by the value of VAR in tend's
// environment; VAR must be set, unless written ${VAR:-default}, which gives
// default when VAR is unset or empty (the default is taken literally, no
// nesting). $$ is a literal $. Nothing else expands: a bare $HOME, a lone $
// and keys are left as written. A command given as one string is first split
// into words and then expanded word by word, so a value containing spaces
// stays one word (as "${VAR}" would in a shell). The contents of env_file
// and .env files are taken literally.
package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"time"

	"github.com/tend-sh/tend/internal/listen"
	"github.com/tend-sh/tend/internal/readfile"
)

// Defaults. They are what an absent key means.
const (
	DefaultGrace           = 10 * time.Second
	DefaultLogFormat       = "text"
	DefaultRestart         = RestartOnFailure
	DefaultBackoffInitial  = 100 * time.Millisecond
	DefaultBackoffMax      = 30 * time.Second
	DefaultMaxRestarts     = 5
	DefaultMaxRestartsIn   = time.Minute
	DefaultStopSignal      = syscall.SIGTERM
	DefaultStopTimeout     = 10 * time.Second
	DefaultReadyTimeout    = 30 * time.Second
	DefaultReadyInterval   = 100 * time.Millisecond
	DefaultHealthInterval  = 10 * time.Second
	DefaultHealthTimeout   = 2 * time.Second
	DefaultHealthFailures  = 3
	DefaultUpdate          = UpdateStopFirst
	MaxServiceNameLen      = 64
	maxFD                  = 255
	maxSignal              = 64
	defaultSuccessExitCode = 0
)

// Config is a loaded, validated and defaulted configuration.
type Config struct {
	// File is the path the configuration was loaded from (as given).
	File string
	// Grace (key grace, default 10s) is the whole-container stop budget:
	// after it, everything still running is SIGKILLed.
	Grace time.Duration
	// LogFormat (key log_format, default "text") is "text" or "json".
	LogFormat string
	// LogTimestamps (key log_timestamps, default false) prefixes tend's
	// log lines with a timestamp.
	LogTimestamps bool
	// Services in the order they first appear in the file; at least one.
	// Jobs read from crontab files come after the TOML services.
	Services []*Service
	// Files are the TOML files loaded, in order (more than one with
	// config directories or a repeated -c; see LoadSet).
	Files []string
	// Crontabs are the crontab files loaded (key crontab, --crontab).
	Crontabs []string
	// templates: per replicated table, its values with ${TEND_REPLICA}
	// unexpanded, for Plan (replicas.go).
	templates map[string]*Service
}

// Service is one [service.NAME] table: the definition of a service, as
// validated, with its defaults. It is the one definition: the supervisor
// runs it as is (supervise.Service holds it), a reload compares it
// (SameAs) and `tend check` prints it (servicePlan, one entry per key). A
// key is added here, in decode.go and in servicePlan; tests fail on a key
// left out of either of the last two.
type Service struct {
	// Name is NAME: 1 to 64 characters of A-Z a-z 0-9 _ . -
	Name string
	// Line is the line of its [service.NAME] header (or of the first key
	// defining it, for dotted keys and inline tables).
	Line int
	// Command (key command, required) is the exact argv. An array is taken
	// as is; a string is split into words with shell quoting rules
	// (package shellwords) but never run through a shell: | ; && > are
	// ordinary arguments. The program is looked up in PATH when it has no
	// slash. It must not be empty.
	Command []string
	// User (key user, default "": tend's own) runs the service as USER or
	// USER:GROUP, names or numbers (an integer value is allowed).
	User string
	// UserLine is the line of the user key (0 without one): the user is
	// looked up after loading (supervise.FromConfig), and an unknown one
	// is reported there.
	UserLine int
	// Workdir (key workdir, default "": tend's working directory). A
	// relative path is resolved against the config file's directory, so
	// Workdir is "" or absolute.
	Workdir string
	// Env (keys env_file then env; default none) is the service's own
	// environment as "K=V" entries: the env_file's variables, then the env
	// table's, a later definition of a name replacing the earlier one in
	// place. It does NOT include tend's environment (the supervisor adds
	// that underneath). env values may be strings, integers or booleans.
	// env_file is a file of KEY=VALUE lines (see ParseEnvFile) whose path,
	// when relative, is resolved against the config file's directory; it
	// is read at load time and a missing file is an error, as is anything
	// but a regular file of at most 4 MiB (readfile.Max).
	Env []string
	// Ready (key ready, default none: ready as soon as started) is how to
	// tell that the service is ready, so that services listing it in
	// after can start. Kinds: tcp, http, exec, file, fd, notify.
	Ready *Probe
	// Listen (key listen, default none) are the sockets tend creates
	// before the service's first start and passes to every start as fds
	// 3, 4, … with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (systemd's
	// socket activation): an array of "tcp://HOST:PORT",
	// "tcp6://[ADDR]:PORT", "udp://HOST:PORT", "unix:///path" strings or
	// { address = "…", name = "…" } tables (package listen). The sockets
	// stay open while the service is in the configuration (listen.go).
	Listen []listen.Addr
	// Watchdog (key watchdog, default 0: none; needs ready = { notify =
	// true }) is the longest time allowed between two WATCHDOG=1
	// messages; the service gets WATCHDOG_USEC and WATCHDOG_PID, and a
	// missed deadline restarts it as a failed health check would.
	Watchdog time.Duration
	// Oneshot (key oneshot, default false) marks a task that runs to
	// completion: services after it wait for its success, and its failure
	// fails startup. A oneshot may not have restart = "always", ready or
	// health.
	Oneshot bool
	// After (key after, default none: start at once) names the services
	// that must be ready (oneshots: finished successfully) before this one
	// starts: an array of names, or one name as a string. Each must be a
	// service of the file, listed once; cycles are errors.
	After []string
	// Restart (key restart, default "on-failure") is "always",
	// "on-failure" (an exit code not in SuccessCodes, or death by signal)
	// or "never".
	Restart string
	// SuccessCodes (key success_codes, default [0]) are the exit codes
	// that count as success: 0-255, at least one.
	SuccessCodes []int
	// BackoffInitial and BackoffMax (key backoff = { initial, max },
	// default 100ms and 30s) bound the exponential, jittered delay before
	// a restart. Both > 0 and initial <= max.
	BackoffInitial, BackoffMax time.Duration
	// MaxRestarts and MaxRestartsWithin (key max_restarts = { count,
	// within }, default 5 within 1m): more than count restarts within that
	// sliding window and the service is failed for good. count >= 1 and
	// within > 0; with restart = "never" they have no effect.
	MaxRestarts       int
	MaxRestartsWithin time.Duration
	// Critical (key critical, default false): when the service has failed
	// for good, tend stops everything and exits with its exit code.
	Critical bool
	// StopSignal (key stop_signal, default SIGTERM) asks the service to
	// stop: a name ("QUIT", "SIGQUIT", any case) or a number 1-64, as a
	// string or an integer.
	StopSignal syscall.Signal
	// StopTimeout (key stop_timeout, default 10s, > 0) is how long to wait
	// after StopSignal before SIGKILL (never beyond the Config's Grace).
	StopTimeout time.Duration
	// Health (key health, default none) is a periodic check of a running
	// service; after Failures consecutive failures it is restarted (as a
	// failure: counted against max_restarts). Kinds: tcp, http, exec.
	Health *Probe
	// Log (key log, default "": each output line prefixed with the
	// service's name) is "" or "inherit" (the service's stdout and stderr
	// are tend's own, e.g. a terminal). "prefixed" is accepted as the
	// default's name.
	Log string
	// LogFile (key log as a table, default none) sends the service's
	// lines to a rotated file (see LogFile); Log is then "".
	LogFile *LogFile

	// Schedule (key schedule, default none) makes the service a job: it
	// runs to completion at each time the cron spec names (package
	// schedule: 5 fields, an optional leading seconds field, @daily...,
	// @every 30s). A job may not be a oneshot, have restart, ready or
	// health, or be named in another service's after. Restart is "never".
	Schedule string
	// Timezone (key timezone, jobs only; default: the TZ environment
	// variable, else UTC) is the IANA zone the schedule is read in, as
	// resolved ("UTC" when neither is given).
	Timezone string
	// Overlap (key overlap, jobs only; default "skip") is what happens
	// when a run is due while the previous one still runs: "skip" it (logged
	// and counted), or "queue" it to run as soon as the previous one
	// ends (several due times while one runs queue one run).
	Overlap string
	// Timeout (key timeout, jobs only; default 0: none) bounds a run: then
	// it gets StopSignal, and SIGKILL after StopTimeout.
	Timeout time.Duration
	// MemoryMax (key memory_max, default none), CPUMax (key cpu_max, in
	// cores, default none) and PidsMax (key pids_max, default none) are
	// the service's resource limits (limits.go): it runs in a child
	// cgroup of its own with them, or tend refuses to start where it
	// cannot create one. 0 is none.
	MemoryMax int64
	CPUMax    float64
	PidsMax   int64
	// Replicas (key replicas, default none: one plain service NAME) is the
	// N of replicas = N, 1 to MaxReplicas: the table defines N instances,
	// each its own Service named NAME-i (i = 0 … N-1) with ReplicaOf NAME,
	// Replica i and TEND_REPLICA=i last in Env; ${TEND_REPLICA} in
	// command, env and ready values is i. Everything else (restart
	// limits, backoff, health) is per instance. An after naming NAME
	// waits for every instance (see Config.Instances). 0 for a service
	// without the key.
	Replicas int
	// ReplicaOf is the table's name, NAME, for an instance of replicas
	// ("" otherwise); Replica is its index i.
	ReplicaOf string
	Replica   int
	// Update (key update, default "stop-first") is how a restart asked for
	// (tend restart, a reload that changes the service) replaces a running
	// process: "stop-first" stops the old one, then starts the new one;
	// "start-first" starts the new one and stops the old one only once the
	// new one is ready (its ready probe), and keeps the old one when the
	// new one does not get ready. Not allowed with oneshot or schedule.
	Update string
	// File is the file the service was defined in (as given).
	File string
}

// Update orders (key update).
const (
	UpdateStopFirst  = "stop-first"
	UpdateStartFirst = "start-first"
)

// Restart policies (key restart).
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Log modes (key log): "" is the default, prefixed lines ("prefixed" is
// read as "").
const (
	LogPrefixed = "prefixed"
	LogInherit  = "inherit"
)

// SameAs reports whether o defines the same service as s: every setting
// equal. Where they are written (File, Line, UserLine) does not count. A
// reload restarts a service only when its new definition is not the same
// as the running one: a key added to Service counts here without more
// code.
func (s *Service) SameAs(o *Service) bool {
	a, b := *s, *o
	a.File, a.Line, a.UserLine = "", 0, 0
	b.File, b.Line, b.UserLine = "", 0, 0
	return reflect.DeepEqual(a, b)
}

// IsJob reports whether the service is a scheduled job.
func (s *Service) IsJob() bool { return s.Schedule != "" }

// Job overlap policies.
const (
	OverlapSkip  = "skip"
	OverlapQueue = "queue"
)

// Probe kinds.
const (
	ProbeTCP  = "tcp"  // Address: connect succeeds
	ProbeHTTP = "http" // URL: GET answers 2xx
	ProbeExec = "exec" // Exec: command exits 0
	ProbeFile = "file" // Path: exists (ready only)
	ProbeFD   = "fd"   // FD: the service writes a line to it (ready only)
	// ProbeNotify: the service sends READY=1 to its NOTIFY_SOCKET (ready
	// only; sd_notify).
	ProbeNotify = "notify"
)

// Probe is a ready or health check: an inline table with exactly one of the
// kind keys tcp, http, exec (ready also: file, fd) plus timing keys.
type Probe struct {
	// Kind is the one kind key given: "tcp", "http", "exec", "file", "fd".
	Kind string
	// Address (tcp = "HOST:PORT"; HOST may be empty for the local host
	// or an [IPv6] literal; PORT 1-65535).
	Address string
	// URL (http = "http://..." with a host; https is not supported: tend
	// links no TLS stack, use an exec probe with curl or wget).
	URL string
	// Path (file = PATH): a relative path is resolved against the
	// service's workdir when it has one, else left relative (to tend's
	// working directory, which such a service shares).
	Path string
	// Exec (exec = argv array or string split like command), run with the
	// service's user, workdir and environment.
	Exec []string
	// FD (fd = N, 3-255): the service is given a pipe as file descriptor
	// N and is ready when it writes a line to it.
	FD int
	// Timeout: for ready (default 30s) the total time allowed to become
	// ready, after which the service has failed to start; for health
	// (default 2s) the time allowed for one check.
	Timeout time.Duration
	// Interval: for ready (default 100ms) the delay between attempts (not
	// accepted with fd, which needs no polling); for health (default
	// 10s) the delay between checks.
	Interval time.Duration
	// Failures (health only, default 3, >= 1): consecutive failed checks
	// that make the service unhealthy.
	Failures int
}

// Error is every error this package returns. Error() formats it as
// "FILE:LINE: KEY: MSG", leaving out the parts that are empty: Line is 0 for
// file-level errors (unreadable file, no services).
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		if s != "" {
			s += ": "
		}
		s += e.Key
	}
	if s != "" {
		s += ": "
	}
	return s + e.Msg
}

// Getenv looks up a variable of tend's environment for ${VAR} expansion;
// os.LookupEnv is one. A nil Getenv means os.LookupEnv.
type Getenv func(string) (string, bool)

// Load reads and parses the TOML configuration file at path: a regular file
// of at most 4 MiB (readfile.Max).
func Load(path string, getenv Getenv) (*Config, error) {
	data, err := readfile.Read(path, readfile.Max)
	if err != nil {
		return nil, &Error{File: path, Msg: fileErr(err)}
	}
	return Parse(path, data, getenv)
}

// Parse parses TOML configuration data. name is used in errors and for
// Config.File; relative env_file and workdir paths are resolved against its
// directory, made absolute. A crontab key's file is read and its lines
// become jobs.
func Parse(name string, data []byte, getenv Getenv) (*Config, error) {
	p, err := parsePart(name, data, getenv, false)
	if err != nil {
		return nil, err
	}
	return finish(p.cfg, []*part{p}, nil, getenv)
}

// part is one parsed file of a set.
type part struct {
	cfg        *Config
	settings   map[string]int // top-level setting -> line
	crontab    string
	afterLines map[string]int
}

func parsePart(name string, data []byte, getenv Getenv, partial bool) (*part, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	root, err := buildTree(name, data)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	d := &decoder{file: name, dir: dir, getenv: getenv, partial: partial}
	c, err := d.config(root)
	if err != nil {
		return nil, err
	}
	c.Files = []string{name}
	return &part{cfg: c, settings: d.settings, crontab: d.crontab, afterLines: d.afterLines}, nil
}

// fileErr describes an os or readfile error without repeating the path.
func fileErr(err error) string {
	var re *readfile.Error
	if errors.As(err, &re) {
		return re.Reason
	}
	if pe, ok := err.(*os.PathError); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
