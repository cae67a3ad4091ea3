package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tend-sh/tend/internal/schedule"
)

// LoadCrontab reads a crontab file (tend --crontab FILE, or the crontab key)
// into jobs, one per line, the way cron and supercronic read one:
//
//	# a comment
//	MAILTO=""                     VAR=value: set for the lines after it
//	CRON_TZ=Europe/Berlin         the time zone of the lines after it
//	*/5 * * * * /app/cleanup --old
//	0 */10 * * * * echo seconds   a leading seconds field (6 fields)
//	@daily /app/report > /tmp/report.log 2>&1
//	@every 30s /app/poll
//
// There is no user column. Each SPEC COMMAND line becomes a job named
// NAME-LINE, NAME being the file's base name without its extension
// (crontab -> crontab-4; characters other than A-Z a-z 0-9 _ . - become
// _), whose command is run with /bin/sh -c COMMAND, so shell syntax (pipes,
// redirections, $VARS) works as under cron; % is not special. A line is an
// environment line when it starts with a letter or _ and has = before any
// blank; a value may be quoted, which is removed, and is not expanded. The
// sixth word is a seconds field when it has only 0-9 * / , - ? and the six
// fields parse; otherwise the command starts there. Jobs have every
// default of a TOML job (overlap = "skip", no timeout, time zone TZ else
// UTC unless CRON_TZ is set). Errors name file:line.
func LoadCrontab(path string, getenv Getenv) ([]*Service, error) {
	return loadCrontab(path, getenv, time.Now())
}

func loadCrontab(path string, getenv Getenv, now time.Time) ([]*Service, error) {
	data, err := os.ReadFile(path)
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
		jobs  []*Service
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
				return nil, errf(tomlQuote(k) + " is not a variable name; accepted: letters, digits, _ . - not starting with a digit")
			}
			if k == "CRON_TZ" {
				l, err := schedule.LoadLocation(v)
				if err != nil {
					return nil, errf("CRON_TZ: " + err.Error())
				}
				loc, locLn = l, lineNo
				continue
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
		s := newService(prefix+"-"+strconv.Itoa(lineNo), lineNo)
		s.File = name
		s.Command = []string{"/bin/sh", "-c", cmd}
		s.Env = env.list()
		if len(s.Env) == 0 {
			s.Env = nil
		}
		s.Schedule, s.Timezone, s.Overlap, s.Restart = spec, l.String(), OverlapSkip, "never"
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

// splitCronLine splits a job line into its schedule and its command.
func splitCronLine(line string, now time.Time) (spec, cmd string, err error) {
	words := strings.Fields(line)
	nSpec := 5
	switch {
	case strings.HasPrefix(words[0], "@every"):
		nSpec = 2
	case strings.HasPrefix(words[0], "@"):
		nSpec = 1
	case len(words) >= 7 && isCronField(words[5]):
		if _, err := schedule.Parse(strings.Join(words[:6], " "), time.UTC, now); err == nil {
			nSpec = 6
		}
	}
	if len(words) < nSpec {
		return "", "", errorString("not a crontab line: " + quoteSnippet(line) + "; accepted: " + crontabLineForm)
	}
	if len(words) == nSpec {
		return "", "", errorString("no command after the schedule; accepted: " + crontabLineForm)
	}
	// The command is the rest of the line as written (its own blanks kept).
	rest := line
	for range nSpec {
		rest = strings.TrimLeft(rest, " \t")
		rest = rest[strings.IndexAny(rest+" ", " \t"):]
	}
	return strings.Join(words[:nSpec], " "), strings.TrimSpace(rest), nil
}

func isCronField(w string) bool {
	return strings.Trim(w, "0123456789*/,-?") == ""
}

type errorString string

func (e errorString) Error() string { return string(e) }

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
	if len(base) > MaxServiceNameLen-8 {
		base = base[:MaxServiceNameLen-8]
	}
	if base == "" || base == "." {
		base = "cron"
	}
	return base
}
