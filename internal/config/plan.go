package config

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tend-sh/tend/internal/quantity"
)

// Plan renders the resolved configuration for `tend check`: the start order,
// then every setting of every service with the defaults filled in, as a TOML
// document that loads back to the same configuration (env_file contents are
// folded into env, which therefore shows their values; relative paths are
// shown resolved; env_file bytes that are not UTF-8 show as U+FFFD).
func (c *Config) Plan() string {
	var b strings.Builder
	file := printable(c.File)
	if srcs := append(slices.Clone(c.Files), c.Crontabs...); len(srcs) > 1 {
		file = printable(strings.Join(srcs, ", "))
	}
	b.WriteString("# " + file + ", resolved with defaults\n#\n# start order:\n")
	for i, level := range c.StartOrder() {
		b.WriteString("#   " + strconv.Itoa(i+1) + ". " + strings.Join(level, ", ") + "\n")
	}
	b.WriteString("\n")
	kv(&b, "grace", dur(c.Grace))
	kv(&b, "log_format", str(c.LogFormat))
	kv(&b, "log_timestamps", strconv.FormatBool(c.LogTimestamps))
	for _, s := range c.Services {
		if s.ReplicaOf != "" {
			if s.Replica != 0 {
				continue // shown with instance 0, as the one table they come from
			}
			s = c.template(s)
		}
		b.WriteString("\n[service." + quoteKey(s.Name) + "]  # " + printable(c.fileOf(s)) + ":" + strconv.Itoa(s.Line) + "\n")
		for _, k := range servicePlan {
			if k.show != nil {
				k.show(&b, s)
			}
		}
	}
	return b.String()
}

// servicePlan shows the keys of a [service.NAME] table, in the plan's
// order: one entry per key of serviceKeys (a test holds them equal), so a
// key added to the configuration cannot be left out of `tend check`.
var servicePlan = []struct {
	key  string
	show func(b *strings.Builder, s *Service) // nil: shown by another key
}{
	{"replicas", func(b *strings.Builder, s *Service) {
		if s.Replicas == 0 {
			b.WriteString("# replicas: none (one process, named " + printable(s.Name) + ")\n")
			return
		}
		kv(b, "replicas", strconv.Itoa(s.Replicas))
		b.WriteString("# " + printable(instancesText(s.Name, s.Replicas)) + ", " + ReplicaEnv + "=the index\n")
	}},
	{"command", func(b *strings.Builder, s *Service) { kv(b, "command", strs(s.Command)) }},
	{"user", func(b *strings.Builder, s *Service) { optional(b, "user", s.User, "tend's") }},
	{"workdir", func(b *strings.Builder, s *Service) { optional(b, "workdir", s.Workdir, "tend's") }},
	{"schedule", func(b *strings.Builder, s *Service) {
		if s.IsJob() {
			kv(b, "schedule", str(s.Schedule))
		}
	}},
	{"timezone", func(b *strings.Builder, s *Service) {
		if s.IsJob() {
			kv(b, "timezone", str(s.Timezone))
		}
	}},
	{"overlap", func(b *strings.Builder, s *Service) {
		if s.IsJob() {
			kv(b, "overlap", str(s.Overlap))
		}
	}},
	{"timeout", func(b *strings.Builder, s *Service) {
		if !s.IsJob() {
			return
		}
		if s.Timeout > 0 {
			kv(b, "timeout", dur(s.Timeout))
		} else {
			b.WriteString("# timeout: none\n")
		}
		b.WriteString("# a job: never restarted, the next scheduled time is the retry\n")
	}},
	{"ready", func(b *strings.Builder, s *Service) {
		switch {
		case s.IsJob():
		case s.Ready != nil:
			kv(b, "ready", probe(s.Ready, false))
		default:
			b.WriteString("# ready: none (ready as soon as started)\n")
		}
	}},
	{"listen", planListen},
	{"watchdog", planWatchdog},
	{"oneshot", func(b *strings.Builder, s *Service) {
		if !s.IsJob() {
			kv(b, "oneshot", strconv.FormatBool(s.Oneshot))
		}
	}},
	{"after", func(b *strings.Builder, s *Service) { kv(b, "after", strs(s.After)) }},
	{"restart", func(b *strings.Builder, s *Service) {
		if !s.IsJob() {
			kv(b, "restart", str(s.Restart))
		}
	}},
	{"success_codes", func(b *strings.Builder, s *Service) {
		codes := make([]string, len(s.SuccessCodes))
		for i, code := range s.SuccessCodes {
			codes[i] = strconv.Itoa(code)
		}
		kv(b, "success_codes", "["+strings.Join(codes, ", ")+"]")
	}},
	{"backoff", func(b *strings.Builder, s *Service) {
		if !s.IsJob() {
			kv(b, "backoff", "{ initial = "+dur(s.BackoffInitial)+", max = "+dur(s.BackoffMax)+" }")
		}
	}},
	{"max_restarts", func(b *strings.Builder, s *Service) {
		if !s.IsJob() {
			kv(b, "max_restarts", "{ count = "+strconv.Itoa(s.MaxRestarts)+", within = "+dur(s.MaxRestartsWithin)+" }")
		}
	}},
	{"critical", func(b *strings.Builder, s *Service) { kv(b, "critical", strconv.FormatBool(s.Critical)) }},
	{"update", func(b *strings.Builder, s *Service) {
		if !s.IsJob() && !s.Oneshot {
			kv(b, "update", str(s.Update))
		}
	}},
	{"stop_signal", func(b *strings.Builder, s *Service) { kv(b, "stop_signal", str(signalName(s.StopSignal))) }},
	{"stop_timeout", func(b *strings.Builder, s *Service) { kv(b, "stop_timeout", dur(s.StopTimeout)) }},
	{"health", func(b *strings.Builder, s *Service) {
		switch {
		case s.IsJob(): // no health check on a job
		case s.Health != nil:
			kv(b, "health", probe(s.Health, true))
		default:
			b.WriteString("# health: none\n")
		}
	}},
	{"log", func(b *strings.Builder, s *Service) {
		if lf := s.LogFile; lf != nil {
			kv(b, "log", "{ file = "+str(lf.Path)+", max_size = "+str(quantity.Format(lf.MaxSize))+", max_files = "+strconv.Itoa(lf.MaxFiles)+", stdout = "+strconv.FormatBool(lf.Stdout)+" }")
			return
		}
		log := s.Log
		if log == "" {
			log = LogPrefixed
		}
		kv(b, "log", str(log))
	}},
	{"memory_max", limitPlan("memory_max")},
	{"cpu_max", limitPlan("cpu_max")},
	{"pids_max", limitPlan("pids_max")},
	{"env_file", nil}, // read at load time: its variables are in env
	{"env", func(b *strings.Builder, s *Service) {
		if len(s.Env) == 0 {
			b.WriteString("# env: none\n")
			return
		}
		b.WriteString("\n[service." + quoteKey(s.Name) + ".env]\n")
		for _, e := range s.Env {
			k, v, _ := strings.Cut(e, "=")
			kv(b, quoteKey(k), str(v))
		}
	}},
}

func kv(b *strings.Builder, k, v string) {
	b.WriteString(k + " = " + v + "\n")
}

func optional(b *strings.Builder, k, v, none string) {
	if v == "" {
		b.WriteString("# " + k + ": " + none + "\n")
		return
	}
	kv(b, k, str(v))
}

// str quotes s so that it reads back unchanged: $ is doubled, and the
// mark of a replicated table's template is ${TEND_REPLICA} again.
func str(s string) string {
	q := tomlQuote(strings.ReplaceAll(s, "$", "$$"))
	return strings.ReplaceAll(q, replicaMark, "${"+ReplicaEnv+"}")
}

// template is the table instance 0 of a replicated service was decoded
// from, for the plan: its template (values with ${TEND_REPLICA}), or
// instance 0 itself, named as the table, when there is none (a Config
// made by hand).
func (c *Config) template(s *Service) *Service {
	if t := c.templates[s.ReplicaOf]; t != nil {
		return t
	}
	t := *s
	t.Name = s.ReplicaOf
	return &t
}

func strs(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = str(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func dur(d time.Duration) string { return `"` + d.String() + `"` }

func probe(p *Probe, health bool) string {
	var parts []string
	switch p.Kind {
	case ProbeTCP:
		parts = append(parts, "tcp = "+str(p.Address))
	case ProbeHTTP:
		parts = append(parts, "http = "+str(p.URL))
	case ProbeExec:
		parts = append(parts, "exec = "+strs(p.Exec))
	case ProbeFile:
		parts = append(parts, "file = "+str(p.Path))
	case ProbeFD:
		parts = append(parts, "fd = "+strconv.Itoa(p.FD))
	case ProbeNotify:
		parts = append(parts, "notify = true")
	}
	parts = append(parts, "timeout = "+dur(p.Timeout))
	if p.Kind != ProbeFD && p.Kind != ProbeNotify {
		parts = append(parts, "interval = "+dur(p.Interval))
	}
	if health {
		parts = append(parts, "failures = "+strconv.Itoa(p.Failures))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// printable replaces control characters, so a file name cannot break a
// comment line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
