package config

import (
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tend-sh/tend/internal/readfile"
	"github.com/tend-sh/tend/internal/schedule"
)

// LoadCrontab reads a crontab file (tend --crontab FILE, or the crontab key)
// into jobs, one per line, the way cron and supercronic read one:
//
//	# a comment
//	MAILTO=""                     VAR=value: set for the lines after it
//	CRON_TZ=Europe/Berlin         the time zone of the lines after it
//	SHELL=/bin/bash               the shell of the lines after it (default /bin/sh)
//	*/5 * * * * /app/cleanup --old
//	*/10 * * * * * * echo secs    7 fields: seconds, the 5, year (as supercronic)
//	0 12 * * * 2027 echo 2027     6 fields: the 5, year (as supercronic)
//	@daily /app/report > /tmp/report.log 2>&1
//	@every 30s /app/poll
//
// There is no user column. Each SPEC COMMAND line becomes a job named
// NAME-ID, NAME being the file's base name without its extension
// (characters other than A-Z a-z 0-9 _ . - become _) and ID a hash of its
// schedule and command (crontab -> crontab-5d1f0c9a2b7e; jobID): a job
// keeps its name, and a reload leaves it alone, when lines around it are
// added, removed or moved. The same schedule and command twice get -2,
// -3... in file order. Its command is run with SHELL -c COMMAND, so shell syntax (pipes,
// redirections, $VARS) works as under cron; % is not special. A line is an
// environment line when it starts with a letter or _ and has = before any
// blank; a value may be quoted, which is removed, and is not expanded. The
// schedule's fields are counted as supercronic does (see splitCronLine): in
// a crontab a sixth field is a year, where a TOML schedule's is seconds.
// Jobs have every default of a TOML job (overlap = "skip", no timeout, time
// zone TZ else UTC unless CRON_TZ is set). Errors name file:line.
func LoadCrontab(path string, getenv Getenv) ([]*Service, error) {
	return loadCrontab(path, getenv, time.Now())
}

func loadCrontab(path string, getenv Getenv, now time.Time) ([]*Service, error) {
	data, err := readfile.Read(path, readfile.Max)
	if err != nil {
		return nil, &Error{File: path, Msg: "crontab: " + fileErr(err)}
	}
	return parseCrontab(path, data, getenv, now)
}

const crontabLineForm = `"SPEC COMMAND" (5 fields, optional seconds field, @daily..., @every DURATION), "VAR=value", or a # comment`

func parseCrontab(name string, data []byte, getenv Getenv, now time.Time) ([]*Service, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	prefix := crontabPrefix(name)
	var (
		env   envList
		loc   *time.Location
		locLn int
		shell = "/bin/sh"
		jobs  []*Service
		seen  = map[string]int{}
	)
	defLoc, defErr := schedule.DefaultLocation(getenv)
	for n, raw := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		errf := func(msg string) error { return &Error{File: name, Line: lineNo, Msg: msg} }
		if !utf8.ValidString(line) {
			return nil, errf("not valid UTF-8")
		}
		if strings.IndexByte(line, 0) >= 0 {
			return nil, errf("contains a NUL byte")
		}
		if k, v, ok := envLine(line); ok {
			if !validEnvName(k) {
				return nil, errf(notEnvName(k))
			}
			if k == "CRON_TZ" {
				l, err := schedule.LoadLocation(v)
				if err != nil {
					return nil, errf("CRON_TZ: " + err.Error())
				}
				loc, locLn = l, lineNo
				continue
			}
			if k == "SHELL" {
				if !filepath.IsAbs(v) {
					return nil, errf("SHELL=" + quoteSnippet(v) + ": accepted: an absolute path such as /bin/bash")
				}
				shell = v
			}
			env.set(k, v)
			continue
		}
		spec, cmd, err := splitCronLine(line, now)
		if err != nil {
			return nil, errf(err.Error())
		}
		l := loc
		if l == nil {
			if defErr != nil {
				return nil, errf("no CRON_TZ line, and " + defErr.Error())
			}
			l = defLoc
		}
		if _, err := schedule.Parse(spec, l, now); err != nil {
			msg := err.Error()
			if locLn > 0 {
				msg += " (in " + l.String() + ", CRON_TZ of line " + strconv.Itoa(locLn) + ")"
			}
			return nil, errf(msg)
		}
		id := prefix + "-" + jobID(spec, cmd)
		seen[id]++
		if n := seen[id]; n > 1 {
			id += "-" + strconv.Itoa(n)
		}
		s := newService(id, lineNo)
		s.File = name
		s.Command = []string{shell, "-c", cmd}
		s.Env = env.list()
		if len(s.Env) == 0 {
			s.Env = nil
		}
		s.Schedule, s.Timezone, s.Overlap, s.Restart = spec, l.String(), OverlapSkip, RestartNever
		jobs = append(jobs, s)
	}
	return jobs, nil
}

// envLine recognizes VAR=value (blanks around = allowed, as cron does).
func envLine(line string) (k, v string, ok bool) {
	c := line[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return "", "", false
	}
	i := strings.IndexByte(line, '=')
	if i < 0 {
		return "", "", false
	}
	k = strings.TrimSpace(line[:i])
	if strings.ContainsAny(k, " \t") {
		return "", "", false
	}
	v = strings.TrimSpace(line[i+1:])
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return k, v, true
}

// splitCronLine splits a job line into its schedule and its command. Like
// supercronic, it tries 7 fields (seconds, 5 fields, year), then 6 (5
// fields, year), then 5, and takes the first that parses; the schedule of a
// 6-field line is returned in the 7-field form ("0 " + line). A spec that
// parses but never fires is an error, not a cue to try fewer fields.
func splitCronLine(line string, now time.Time) (spec, cmd string, err error) {
	words := strings.Fields(line)
	nSpec := 0
	switch {
	case strings.HasPrefix(words[0], "@every"):
		nSpec, spec = 2, strings.Join(words[:min(2, len(words))], " ")
	case strings.HasPrefix(words[0], "@"):
		nSpec, spec = 1, words[0]
	case len(words) < 5:
		return "", "", errorString("not a crontab line: " + quoteSnippet(line) + "; accepted: " + crontabLineForm)
	default:
		for _, n := range []int{7, 6} {
			if len(words) <= n || !isCronField(words[n-1]) {
				continue
			}
			try := strings.Join(words[:n], " ")
			if n == 6 {
				try = "0 " + try
			}
			_, perr := schedule.Parse(try, time.UTC, now)
			if perr == nil {
				nSpec, spec = n, try
				break
			}
			if schedule.NeverFires(perr) {
				return "", "", perr
			}
		}
		if nSpec == 0 {
			nSpec, spec = 5, strings.Join(words[:5], " ")
		}
	}
	if len(words) <= nSpec {
		return "", "", errorString("no command after the schedule; accepted: " + crontabLineForm)
	}
	// The command is the rest of the line as written (its own blanks kept).
	rest := line
	for range nSpec {
		rest = strings.TrimLeft(rest, " \t")
		rest = rest[strings.IndexAny(rest+" ", " \t"):]
	}
	return spec, strings.TrimSpace(rest), nil
}

func isCronField(w string) bool {
	return strings.Trim(w, "0123456789*/,-?") == ""
}

type errorString string

func (e errorString) Error() string { return string(e) }

// jobID identifies a crontab job across edits of the file: 12 hex digits
// (48 bits) of the FNV-1a hash of its schedule and command, so that two
// different lines of even a 100,000-line crontab collide with a chance of
// about 1 in 50,000 (and a collision only numbers the second one -2).
func jobID(spec, cmd string) string {
	h := fnv.New64a()
	h.Write([]byte(spec))
	h.Write([]byte{0})
	h.Write([]byte(cmd))
	return strconv.FormatUint(h.Sum64()>>16|1<<48, 16)[1:]
}

// crontabPrefix is the job name prefix of a crontab file.
func crontabPrefix(path string) string {
	base := filepath.Base(path)
	if ext := filepath.Ext(base); ext != "" && ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	b := []byte(base)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	base = string(b)
	if len(base) > MaxServiceNameLen-20 { // room for -ID and a -N
		base = base[:MaxServiceNameLen-20]
	}
	if base == "" || base == "." {
		base = "cron"
	}
	return base
}
