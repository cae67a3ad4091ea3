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
// after the file and what the line runs, never after its position (see
// jobName): FILE-WORD-HASH, FILE being the file's base name without its
// extension (characters other than A-Z a-z 0-9 _ . - become _), WORD the
// base name of the command's first word, HASH 8 hex digits of the schedule
// and command ("*/5 * * * * /app/cleanup --old" in crontab ->
// crontab-cleanup-HASH). So editing other lines (a comment, a new
// job) leaves a job's name, and a reload leaves the job, alone. The same
// schedule and command on several lines (or, rarely, two lines whose
// hashes collide) are told apart by -2, -3... in file order. The command
// is run with SHELL -c COMMAND, so shell syntax (pipes,
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
		seen  = map[string]int{} // job names given so far, for -2, -3...
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
		jn := jobName(prefix, spec, cmd)
		seen[jn]++
		if k := seen[jn]; k > 1 {
			jn += "-" + strconv.Itoa(k)
		}
		s := newService(jn, lineNo)
		s.File = name
		s.Command = []string{shell, "-c", cmd}
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
	if len(base) > maxPrefixLen {
		base = base[:maxPrefixLen]
	}
	if base == "" || base == "." {
		base = "cron"
	}
	return base
}

// Job names: FILE (at most maxPrefixLen) "-" WORD (at most maxWordLen, and
// what room is left) "-" HASH, with room for a "-N" of up to 7 digits, all
// within MaxServiceNameLen.
const (
	maxPrefixLen = 40
	maxWordLen   = 20
	hashLen      = 8
	dupRoom      = 8
)

// jobName is a crontab job's name: prefix, the base name of the command's
// first word (its characters outside A-Z a-z 0-9 _ . - dropped; left out
// when nothing is left), and 8 hex digits of an FNV-1a hash of the
// schedule and the command. It depends on nothing but the file's name and
// the line's schedule and command.
func jobName(prefix, spec, cmd string) string {
	h := fnv.New64a()
	h.Write([]byte(spec))
	h.Write([]byte{0})
	h.Write([]byte(cmd))
	sum := strconv.FormatUint(h.Sum64()&0xffffffff, 16)
	sum = strings.Repeat("0", hashLen-len(sum)) + sum
	word := ""
	if f := strings.Fields(cmd); len(f) > 0 {
		w := f[0]
		if i := strings.LastIndexByte(strings.TrimRight(w, "/"), '/'); i >= 0 {
			w = w[i+1:]
		}
		b := make([]byte, 0, len(w))
		for i := 0; i < len(w); i++ {
			if c := w[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
				b = append(b, c)
			}
		}
		word = strings.Trim(string(b), ".-")
	}
	room := min(maxWordLen, MaxServiceNameLen-len(prefix)-1-hashLen-1-dupRoom)
	if len(word) > room {
		word = word[:max(room, 0)]
	}
	if word == "" {
		return prefix + "-" + sum
	}
	return prefix + "-" + word + "-" + sum
}
