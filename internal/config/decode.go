package config

import (
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tend-sh/tend/internal/shellwords"
	"golang.org/x/sys/unix"
)

// Accepted keys, sorted, per table.
var (
	rootKeys        = []string{"crontab", "grace", "log_format", "log_timestamps", "service"}
	serviceKeys     = []string{"after", "backoff", "command", "cpu_max", "critical", "env", "env_file", "health", "listen", "log", "max_restarts", "memory_max", "oneshot", "overlap", "pids_max", "ready", "replicas", "restart", "schedule", "stop_signal", "stop_timeout", "success_codes", "timeout", "timezone", "update", "user", "watchdog", "workdir"}
	backoffKeys     = []string{"initial", "max"}
	maxRestartKeys  = []string{"count", "within"}
	readyKeys       = []string{"exec", "fd", "file", "http", "interval", "notify", "tcp", "timeout"}
	healthKeys      = []string{"exec", "failures", "http", "interval", "tcp", "timeout"}
	readyKinds      = []string{ProbeTCP, ProbeHTTP, ProbeExec, ProbeFile, ProbeFD, ProbeNotify}
	healthKinds     = []string{ProbeTCP, ProbeHTTP, ProbeExec}
	logFormats      = []string{"text", "json"}
	restartPolicies = []string{RestartAlways, RestartOnFailure, RestartNever}
	logModes        = []string{LogPrefixed, LogInherit}
	overlapModes    = []string{OverlapSkip, OverlapQueue}
	updateModes     = []string{UpdateStopFirst, UpdateStartFirst}
)

const durationForm = `a Go duration such as "500ms", "10s", "1m30s"`

type decoder struct {
	file       string
	dir        string
	getenv     Getenv
	afterLines map[string]int // service name -> line of its after key
	now        time.Time      // for "never fires" checks of schedules
	// partial: a file of a set (config directories, repeated -c): it may
	// define no services; settings records the line of each top-level
	// setting given, crontab the crontab key's resolved path.
	partial  bool
	settings map[string]int
	crontab  string
	// The instance being decoded (replicas.go): replica is what
	// ${TEND_REPLICA} gives in command, env and ready ("" outside
	// replicas), perInstance is set while one of those keys is decoded,
	// template while the sentinel decode for the plan runs.
	replica     string
	perInstance bool
	template    bool
	templates   map[string]*Service // replicated table -> template (Plan)
}

func (d *decoder) errf(line int, key, msg string) *Error {
	return &Error{File: d.file, Line: line, Key: key, Msg: msg}
}

func (d *decoder) config(root *table) (*Config, error) {
	c := &Config{File: d.file, Grace: DefaultGrace, LogFormat: DefaultLogFormat}
	d.afterLines = map[string]int{}
	var services *field
	for _, k := range root.keys {
		f := root.fields[k]
		var err error
		if k != "service" {
			if d.settings == nil {
				d.settings = map[string]int{}
			}
			d.settings[k] = f.line
		}
		switch k {
		case "crontab":
			d.crontab, err = d.nonEmpty(f, k, "a crontab file")
			d.crontab = d.resolve(d.crontab)
		case "grace":
			c.Grace, err = d.duration(f, k)
		case "log_format":
			c.LogFormat, err = d.enum(f, k, logFormats, "a log format")
		case "log_timestamps":
			c.LogTimestamps, err = d.boolean(f, k)
		case "service":
			services = f
		default:
			err = d.unknown(f, []string{k}, rootKeys)
		}
		if err != nil {
			return nil, err
		}
	}
	if services == nil && (d.partial || d.crontab != "") {
		return c, nil
	}
	if services == nil {
		return nil, &Error{File: d.file, Msg: "no services; define at least one [service.NAME] table"}
	}
	if services.val.kind != kTable {
		return nil, d.typeErr(services.val, "service", "a table of services ([service.NAME])")
	}
	st := services.val.tbl
	if len(st.keys) == 0 {
		return nil, d.errf(services.line, "service", "no services; define at least one [service.NAME] table")
	}
	for _, name := range st.keys {
		ss, err := d.services(name, st.fields[name])
		if err != nil {
			return nil, err
		}
		c.Services = append(c.Services, ss...)
	}
	c.templates = d.templates
	return c, nil
}

func validServiceName(s string) bool {
	return s != "" && len(s) <= MaxServiceNameLen && nameChars(s)
}

// nameChars reports whether s has only A-Z a-z 0-9 _ . - (service and
// environment variable names).
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

const serviceNameForm = "1-64 characters of A-Z a-z 0-9 _ . -"

// ReservedName is the one service name no file may define: it is the
// service of tend's own lines in the log (service = "tend" in JSON).
const ReservedName = "tend"

const reservedMsg = `the name "tend" is reserved for tend's own messages in the log; choose another name`

// Reserve returns an error, at the service's line, when c defines a
// service called name, which the caller gives to something else; use is
// what for ("the command given after --").
func (c *Config) Reserve(name, use string) error {
	s := c.service(name)
	if s == nil {
		return nil
	}
	return &Error{File: c.File, Line: s.Line, Key: joinKey([]string{"service", name}),
		Msg: "the name " + tomlQuote(name) + " is reserved for " + use + "; rename this service"}
}

// newService returns a Service with every default set.
func newService(name string, line int) *Service {
	return &Service{
		Name:              name,
		Line:              line,
		Restart:           DefaultRestart,
		SuccessCodes:      []int{defaultSuccessExitCode},
		BackoffInitial:    DefaultBackoffInitial,
		BackoffMax:        DefaultBackoffMax,
		MaxRestarts:       DefaultMaxRestarts,
		MaxRestartsWithin: DefaultMaxRestartsIn,
		Update:            DefaultUpdate,
		StopSignal:        DefaultStopSignal,
		StopTimeout:       DefaultStopTimeout,
	}
}

func (d *decoder) service(name string, sf *field) (*Service, error) {
	base := []string{"service", name}
	if !validServiceName(name) {
		return nil, d.errf(sf.line, joinKey(base), tomlQuote(name)+" is not a service name; accepted: "+serviceNameForm)
	}
	if name == ReservedName {
		return nil, d.errf(sf.line, joinKey(base), reservedMsg)
	}
	if sf.val.kind != kTable {
		return nil, d.typeErr(sf.val, joinKey(base), "a table ([service."+quoteKey(name)+"])")
	}
	s := newService(name, sf.val.line)
	s.File = d.file
	t := sf.val.tbl
	var (
		fileEnv, tableEnv         []string
		restartF, readyF, healthF *field
		listenF, watchdogF        *field
		updateF                   *field
		jobF                      job
		backoffLine               int
		fileProbe                 string
		err                       error
	)
	defer func() { d.perInstance = false }()
	for _, k := range t.keys {
		f := t.fields[k]
		key := joinKey(append(base, k))
		d.perInstance = k == "command" || k == "env" || k == "ready"
		switch k {
		case "replicas": // decoded by services (replicas.go)
		case "update":
			updateF = f
			s.Update, err = d.enum(f, key, updateModes, "an update order")
		case "command":
			s.Command, err = d.argv(f.val, key)
		case "user":
			s.UserLine = f.val.line
			if f.val.kind == kInt && f.val.i >= 0 {
				s.User = strconv.FormatInt(f.val.i, 10)
			} else {
				s.User, err = d.nonEmpty(f, key, "a user name or number, optionally :GROUP")
			}
		case "workdir":
			s.Workdir, err = d.nonEmpty(f, key, "a directory")
			s.Workdir = d.resolve(s.Workdir)
		case "env":
			tableEnv, err = d.env(f, key)
		case "env_file":
			var path string
			path, err = d.nonEmpty(f, key, "a file of KEY=VALUE lines")
			if err == nil {
				path = d.resolve(path)
				fileEnv, err = readEnvFile(path)
				if err != nil {
					if _, ok := err.(*Error); !ok {
						err = d.errf(f.val.line, key, "cannot read "+tomlQuote(path)+": "+fileErr(err))
					}
				}
			}
		case "ready":
			readyF = f
			s.Ready, err = d.probe(f, key, false)
			if err == nil && s.Ready.Kind == ProbeFile {
				fileProbe = s.Ready.Path
			}
		case "after":
			s.After, err = d.after(f, key, name)
			d.afterLines[name] = f.line
		case "restart":
			restartF = f
			s.Restart, err = d.enum(f, key, restartPolicies, "a restart policy")
		case "success_codes":
			s.SuccessCodes, err = d.exitCodes(f, key)
		case "backoff":
			backoffLine = f.val.line
			err = d.subTable(f, key, backoffKeys, func(sub *field, subKey string) (err error) {
				switch sub.name {
				case "initial":
					s.BackoffInitial, err = d.durationOrZero(sub, subKey)
				case "max":
					s.BackoffMax, err = d.duration(sub, subKey)
				}
				return err
			})
		case "max_restarts":
			err = d.subTable(f, key, maxRestartKeys, func(sub *field, subKey string) (err error) {
				switch sub.name {
				case "count":
					s.MaxRestarts, err = d.integer(sub, subKey, 1, 1<<31-1, "a number of restarts >= 1")
				case "within":
					s.MaxRestartsWithin, err = d.duration(sub, subKey)
				}
				return err
			})
		case "critical":
			s.Critical, err = d.boolean(f, key)
		case "stop_signal":
			s.StopSignal, err = d.signal(f, key)
		case "stop_timeout":
			s.StopTimeout, err = d.duration(f, key)
		case "health":
			healthF = f
			s.Health, err = d.probe(f, key, true)
		case "log":
			err = d.logKey(s, f, key)
		case "schedule", "timezone", "overlap", "timeout":
			err = jobF.set(d, k, f, key)
		case "listen":
			listenF = f
			s.Listen, err = d.listen(f, key)
		case "watchdog":
			watchdogF = f
			s.Watchdog, err = d.duration(f, key)
		case "oneshot":
			s.Oneshot, err = d.boolean(f, key)
			jobF.oneshot = f
		case "memory_max", "cpu_max", "pids_max":
			err = d.limit(s, k, f, key)
		default:
			err = d.unknown(f, append(base, k), serviceKeys)
		}
		if err != nil {
			return nil, err
		}
	}
	if s.Command == nil {
		return nil, d.errf(s.Line, joinKey(append(base, "command")), "missing; accepted: an array of words, or a string split like shell words")
	}
	var env envList
	env.setAll(fileEnv)
	env.setAll(tableEnv)
	s.Env = env.list()
	if s.BackoffInitial > s.BackoffMax {
		return nil, d.errf(backoffLine, joinKey(append(base, "backoff")), "initial ("+s.BackoffInitial.String()+") is greater than max ("+s.BackoffMax.String()+")")
	}
	if s.Oneshot {
		switch {
		case restartF != nil && s.Restart == "always":
			return nil, d.errf(restartF.val.line, joinKey(append(base, "restart")), `"always" is not allowed with oneshot = true; accepted: on-failure, never`)
		case readyF != nil:
			return nil, d.errf(readyF.line, joinKey(append(base, "ready")), "not allowed with oneshot = true: a oneshot is ready when it has finished successfully")
		case healthF != nil:
			return nil, d.errf(healthF.line, joinKey(append(base, "health")), "not allowed with oneshot = true")
		}
	}
	if err := d.job(s, base, &jobF, restartF, readyF, healthF); err != nil {
		return nil, err
	}
	if err := d.checkNotify(s, base, readyF, listenF, watchdogF); err != nil {
		return nil, err
	}
	if err := d.checkUpdate(s, base, updateF); err != nil {
		return nil, err
	}
	if fileProbe != "" && s.Workdir != "" && !filepath.IsAbs(fileProbe) {
		s.Ready.Path = filepath.Join(s.Workdir, fileProbe)
	}
	return s, nil
}

// resolve makes a relative path relative to the config file's directory.
func (d *decoder) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

// unknown reports an unknown key with the accepted ones.
func (d *decoder) unknown(f *field, path []string, accepted []string) error {
	msg := "unknown key"
	if s := suggest(f.name, accepted); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return d.errf(f.line, joinKey(path), msg+"; accepted: "+strings.Join(accepted, ", "))
}

// suggest returns the accepted key closest to k, if close enough to be a typo.
func suggest(k string, accepted []string) string {
	best, bestD := "", 3
	for _, a := range accepted {
		if dd := editDistance(strings.ToLower(k), a); dd < bestD {
			best, bestD = a, dd
		}
	}
	if bestD >= len(k) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe renders a value for "got ..." in errors.
func describe(v *value) string {
	switch v.kind {
	case kString:
		return "a string (" + quoteSnippet(v.s) + ")"
	case kInt:
		return "an integer (" + strconv.FormatInt(v.i, 10) + ")"
	case kBool:
		return "a boolean (" + strconv.FormatBool(v.b) + ")"
	case kFloat, kDatetime:
		return v.kind.String() + " (" + v.s + ")"
	}
	return v.kind.String()
}

func (d *decoder) typeErr(v *value, key, want string) error {
	return d.errf(v.line, key, "expected "+want+", got "+describe(v))
}

// str returns an expanded string value.
func (d *decoder) str(v *value, key, want string) (string, error) {
	if v.kind != kString {
		return "", d.typeErr(v, key, want)
	}
	return d.expand(v, key, v.s)
}

func (d *decoder) expand(v *value, key, s string) (string, error) {
	out, msg := expand(s, d.lookup)
	if msg != "" {
		return "", d.errf(v.line, key, msg)
	}
	return out, nil
}

func (d *decoder) nonEmpty(f *field, key, want string) (string, error) {
	s, err := d.str(f.val, key, "a string: "+want)
	if err == nil && s == "" {
		err = d.errf(f.val.line, key, "empty; accepted: "+want)
	}
	if err == nil && strings.IndexByte(s, 0) >= 0 {
		err = d.errf(f.val.line, key, "contains a NUL byte")
	}
	return s, err
}

func (d *decoder) boolean(f *field, key string) (bool, error) {
	if f.val.kind != kBool {
		return false, d.typeErr(f.val, key, "true or false")
	}
	return f.val.b, nil
}

func (d *decoder) integer(f *field, key string, lo, hi int64, want string) (int, error) {
	v := f.val
	if v.kind != kInt {
		return 0, d.typeErr(v, key, want)
	}
	if v.i < lo || v.i > hi {
		return 0, d.errf(v.line, key, strconv.FormatInt(v.i, 10)+" is out of range; accepted: "+want)
	}
	return int(v.i), nil
}

func (d *decoder) duration(f *field, key string) (time.Duration, error) {
	s, err := d.str(f.val, key, durationForm)
	if err != nil {
		return 0, err
	}
	dur, perr := time.ParseDuration(s)
	if perr != nil {
		return 0, d.errf(f.val.line, key, tomlQuote(s)+" is not a duration; accepted: "+durationForm)
	}
	if dur <= 0 {
		return 0, d.errf(f.val.line, key, tomlQuote(s)+" is not greater than zero; accepted: "+durationForm)
	}
	return dur, nil
}

// durationOrZero is duration, but "0s" is allowed (backoff.initial = "0s":
// the first crash restarts at once, later ones in a row back off from
// 10 ms; max_restarts still bounds a crash loop).
func (d *decoder) durationOrZero(f *field, key string) (time.Duration, error) {
	if f.val.kind == kString {
		if dur, err := time.ParseDuration(f.val.s); err == nil && dur == 0 {
			return 0, nil
		}
	}
	return d.duration(f, key)
}

func (d *decoder) enum(f *field, key string, accepted []string, what string) (string, error) {
	shown := make([]string, 0, len(accepted))
	for _, a := range accepted {
		if a != "" {
			shown = append(shown, a)
		}
	}
	s, err := d.str(f.val, key, "one of "+strings.Join(shown, ", "))
	if err != nil {
		return "", err
	}
	if !slices.Contains(accepted, s) {
		return "", d.errf(f.val.line, key, tomlQuote(s)+" is not "+what+"; accepted: "+strings.Join(shown, ", "))
	}
	return s, nil
}

const argvForm = "an array of words, or a string split like shell words"

// argv decodes a command: an array of strings, or a string split with
// shell-word rules, each word then expanded.
func (d *decoder) argv(v *value, key string) ([]string, error) {
	var words []string
	switch v.kind {
	case kString:
		ws, err := shellwords.Split(v.s)
		if err != nil {
			return nil, d.errf(v.line, key, err.Error())
		}
		for _, w := range ws {
			w, err := d.expand(v, key, w)
			if err != nil {
				return nil, err
			}
			words = append(words, w)
		}
	case kArray:
		for i, e := range v.arr {
			ekey := key + "[" + strconv.Itoa(i) + "]"
			w, err := d.str(e, ekey, "a string")
			if err != nil {
				return nil, err
			}
			words = append(words, w)
		}
	default:
		return nil, d.typeErr(v, key, argvForm)
	}
	if len(words) == 0 {
		return nil, d.errf(v.line, key, "empty; accepted: "+argvForm)
	}
	if words[0] == "" {
		return nil, d.errf(v.line, key, "the program name is empty")
	}
	for _, w := range words {
		if strings.IndexByte(w, 0) >= 0 {
			return nil, d.errf(v.line, key, "a word contains a NUL byte")
		}
	}
	return words, nil
}

func (d *decoder) env(f *field, key string) ([]string, error) {
	if f.val.kind != kTable {
		return nil, d.typeErr(f.val, key, "a table of NAME = value")
	}
	var out []string
	t := f.val.tbl
	for _, k := range t.keys {
		ef := t.fields[k]
		ekey := key + "." + quoteKey(k)
		if !validEnvName(k) {
			return nil, d.errf(ef.line, ekey, notEnvName(k))
		}
		var s string
		switch v := ef.val; v.kind {
		case kString:
			var err error
			if s, err = d.str(v, ekey, ""); err != nil {
				return nil, err
			}
		case kInt:
			s = strconv.FormatInt(v.i, 10)
		case kBool:
			s = strconv.FormatBool(v.b)
		default:
			return nil, d.typeErr(v, ekey, "a string, integer or boolean")
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, d.errf(ef.val.line, ekey, "contains a NUL byte")
		}
		out = append(out, k+"="+s)
	}
	return out, nil
}

func (d *decoder) after(f *field, key, self string) ([]string, error) {
	var items []*value
	switch f.val.kind {
	case kString:
		items = []*value{f.val}
	case kArray:
		items = f.val.arr
	default:
		return nil, d.typeErr(f.val, key, "an array of service names")
	}
	var out []string
	for i, v := range items {
		ikey := key
		if f.val.kind == kArray {
			ikey += "[" + strconv.Itoa(i) + "]"
		}
		name, err := d.str(v, ikey, "a service name")
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, name) {
			return nil, d.errf(v.line, key, tomlQuote(name)+" is listed twice")
		}
		out = append(out, name)
	}
	return out, nil
}

func (d *decoder) exitCodes(f *field, key string) ([]int, error) {
	const want = "an array of exit codes 0-255"
	if f.val.kind != kArray {
		return nil, d.typeErr(f.val, key, want)
	}
	if len(f.val.arr) == 0 {
		return nil, d.errf(f.val.line, key, "empty; accepted: "+want)
	}
	var out []int
	for i, v := range f.val.arr {
		c, err := d.integer(&field{name: key, line: v.line, val: v}, key+"["+strconv.Itoa(i)+"]", 0, 255, "an exit code 0-255")
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

const signalForm = "a signal name such as TERM, SIGQUIT, or a number 1-64"

func (d *decoder) signal(f *field, key string) (syscall.Signal, error) {
	v := f.val
	switch v.kind {
	case kInt:
		if v.i >= 1 && v.i <= maxSignal {
			return syscall.Signal(v.i), nil
		}
		return 0, d.errf(v.line, key, strconv.FormatInt(v.i, 10)+" is not a signal; accepted: "+signalForm)
	case kString:
		s, err := d.str(v, key, signalForm)
		if err != nil {
			return 0, err
		}
		if sig := parseSignal(s); sig != 0 {
			return sig, nil
		}
		return 0, d.errf(v.line, key, tomlQuote(s)+" is not a signal; accepted: "+signalForm)
	}
	return 0, d.typeErr(v, key, signalForm)
}

// parseSignal turns "QUIT", "SIGQUIT", "quit" or "3" into a signal, or 0.
func parseSignal(s string) syscall.Signal {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 1 && n <= maxSignal {
			return syscall.Signal(n)
		}
		return 0
	}
	u := strings.ToUpper(s)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	return unix.SignalNum(u)
}

// signalName is "SIGQUIT", or the number for signals without a name.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}

// subTable decodes a table whose keys are all in accepted.
func (d *decoder) subTable(f *field, key string, accepted []string, each func(sub *field, subKey string) error) error {
	if f.val.kind != kTable {
		return d.typeErr(f.val, key, "a table { "+strings.Join(accepted, ", ")+" }")
	}
	t := f.val.tbl
	for _, k := range t.keys {
		sub := t.fields[k]
		if !slices.Contains(accepted, k) {
			return d.unknownIn(sub, key, accepted)
		}
		if err := each(sub, key+"."+quoteKey(k)); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) unknownIn(f *field, key string, accepted []string) error {
	msg := "unknown key"
	if s := suggest(f.name, accepted); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return d.errf(f.line, key+"."+quoteKey(f.name), msg+"; accepted: "+strings.Join(accepted, ", "))
}

func (d *decoder) probe(f *field, key string, health bool) (*Probe, error) {
	keys, kinds := readyKeys, readyKinds
	p := &Probe{Timeout: DefaultReadyTimeout, Interval: DefaultReadyInterval}
	if health {
		keys, kinds = healthKeys, healthKinds
		p = &Probe{Timeout: DefaultHealthTimeout, Interval: DefaultHealthInterval, Failures: DefaultHealthFailures}
	}
	kindList := "exactly one of " + strings.Join(kinds, ", ")
	var intervalF *field
	err := d.subTable(f, key, keys, func(sub *field, subKey string) (err error) {
		if slices.Contains(kinds, sub.name) {
			if p.Kind != "" {
				return d.errf(sub.line, subKey, "a second probe kind (already "+p.Kind+"); accepted: "+kindList)
			}
			p.Kind = sub.name
		}
		v := sub.val
		switch sub.name {
		case ProbeTCP:
			p.Address, err = d.nonEmpty(sub, subKey, "HOST:PORT")
			if err == nil && !d.templated(p.Address) {
				if msg := checkHostPort(p.Address); msg != "" {
					err = d.errf(v.line, subKey, tomlQuote(p.Address)+" "+msg+"; accepted: HOST:PORT, [IPv6]:PORT or :PORT")
				}
			}
		case ProbeHTTP:
			p.URL, err = d.nonEmpty(sub, subKey, "an http:// URL")
			if err == nil && !d.templated(p.URL) {
				u, perr := url.Parse(p.URL)
				if perr == nil && u.Scheme == "https" {
					// tend links no TLS stack (it would double the binary
					// and its start-up cost); probing TLS is the app's job.
					err = d.errf(v.line, subKey, tomlQuote(p.URL)+": https probes are not supported; use exec with a client such as curl or wget")
				} else if perr != nil || u.Scheme != "http" || u.Host == "" {
					err = d.errf(v.line, subKey, tomlQuote(p.URL)+" is not an http URL; accepted: an http:// URL with a host")
				}
			}
		case ProbeExec:
			p.Exec, err = d.argv(v, subKey)
		case ProbeFile:
			p.Path, err = d.nonEmpty(sub, subKey, "a file path")
		case ProbeFD:
			p.FD, err = d.integer(sub, subKey, 3, maxFD, "a file descriptor number 3-"+strconv.Itoa(maxFD))
		case "timeout":
			p.Timeout, err = d.duration(sub, subKey)
		case "interval":
			intervalF = sub
			p.Interval, err = d.duration(sub, subKey)
		case "failures":
			p.Failures, err = d.integer(sub, subKey, 1, 1<<31-1, "a number of consecutive failures >= 1")
		case ProbeNotify:
			err = d.notifyKind(sub, subKey)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.Kind == "" {
		return nil, d.errf(f.val.line, key, "no probe kind; accepted: "+kindList)
	}
	if p.Kind == ProbeFD || p.Kind == ProbeNotify {
		if intervalF != nil {
			why := "fd (tend reads the line as soon as it is written)"
			if p.Kind == ProbeNotify {
				why = "notify (tend acts on READY=1 as soon as it comes)"
			}
			return nil, d.errf(intervalF.line, key+".interval", "not used with "+why)
		}
		p.Interval = 0
	}
	return p, nil
}

// checkHostPort validates a dial address, returning a message or "".
func checkHostPort(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "has no :PORT"
	}
	host, port := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") || len(host) < 3 || strings.ContainsAny(host[1:len(host)-1], "[]") {
			return "has a malformed [IPv6] host"
		}
	} else if strings.ContainsAny(host, ":[] \t") {
		return "has a malformed host (an IPv6 address goes in brackets)"
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return "has no valid port (1-65535)"
	}
	return ""
}
