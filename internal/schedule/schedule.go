// Package schedule turns cron specifications into the times they name.
//
// The syntax is parsed by github.com/robfig/cron/v3's parser (the scheduler
// of that module is not used: tend's event loop runs jobs on its own timers).
// Accepted:
//
//	MIN HOUR DOM MON DOW          standard 5 fields: 0-59 0-23 1-31 1-12|JAN-DEC 0-6|SUN-SAT
//	SEC MIN HOUR DOM MON DOW      an optional leading seconds field (0-59)
//	SEC MIN HOUR DOM MON DOW YEAR and a trailing year field (1970-2099; see ParseWithYear)
//	@yearly @annually @monthly @weekly @daily @midnight @hourly
//	@every DURATION               a Go duration of whole seconds, >= 1s ("30s", "1h30m")
//
// Fields take *, lists (1,15), ranges (1-5), steps (*/10, 0-30/5) and ?
// (same as *). As in cron, when both day of month and day of week are
// restricted, a day matching either counts.
//
// # Time zones and DST
//
// Times are computed in the schedule's location. Across a DST change a
// schedule follows what cronie and ISC cron do:
//
//   - A schedule with a fixed hour (the hour field is not *): a time that
//     falls in the hour skipped when clocks go forward runs once, at the
//     change (e.g. 02:30 on the last Sunday of March in Europe/Berlin runs at
//     03:00 CEST); a time in the hour repeated when clocks go back runs once,
//     at its first occurrence.
//   - A schedule with * as its hour (*/15 * * * *, @hourly) follows real
//     time: the skipped hour has no times, the repeated hour runs twice.
//   - @every counts real time and ignores the zone.
package schedule

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/sys/unix"

	"github.com/tend-sh/tend/internal/readfile"
)

// Horizon is how far ahead Next looks for a matching time (set by the
// parser library: 5 years). A schedule with no time within it (30 February)
// is rejected by Parse.
const Horizon = 5 * 365 * 24 * time.Hour

// Form describes the accepted syntax, for error messages.
const Form = `5 fields "MIN HOUR DOM MON DOW", 6 with a leading seconds field, 7 with seconds and a trailing year, @yearly, @monthly, @weekly, @daily, @hourly, or "@every DURATION"`

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

const starBit = 1 << 63 // the parser's marker of a field given as * or ?

// Schedule is a parsed specification in a location. The zero value is not
// usable; use Parse.
type Schedule struct {
	spec  string
	loc   *time.Location
	cron  *cron.SpecSchedule // nil for @every
	every time.Duration
	years *yearSet // nil: every year
}

// Parse parses spec and checks that it fires at least once within Horizon
// of now. loc is where wall-clock fields are read (nil: UTC).
func Parse(spec string, loc *time.Location, now time.Time) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	spec = strings.TrimSpace(spec)
	s := &Schedule{spec: spec, loc: loc}
	switch {
	case spec == "":
		return nil, errors.New("empty; accepted: " + Form)
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, errors.New("a time zone prefix in the spec is not accepted; use the timezone key")
	case spec == "@reboot":
		return nil, errors.New("@reboot is not supported (tend runs no missed or boot-time jobs); use a oneshot service; accepted: " + Form)
	case strings.HasPrefix(spec, "@every"):
		arg := strings.TrimSpace(strings.TrimPrefix(spec, "@every"))
		d, err := time.ParseDuration(arg)
		if err != nil || d < time.Second || d%time.Second != 0 {
			return nil, errors.New("@every " + quote(arg) + ": want a duration of whole seconds, at least 1s, such as \"30s\" or \"1h30m\"")
		}
		s.every = d
		return s, nil
	}
	if f := strings.Fields(spec); len(f) == 7 {
		return ParseWithYear(strings.Join(f[:6], " "), f[6], loc, now)
	}
	parsed, err := parser.Parse(spec)
	if err != nil {
		return nil, errors.New(quote(spec) + " is not a schedule (" + err.Error() + "); accepted: " + Form)
	}
	cs, ok := parsed.(*cron.SpecSchedule)
	if !ok { // the parser returns @every as ConstantDelaySchedule, handled above
		return nil, errors.New(quote(spec) + " is not a schedule; accepted: " + Form)
	}
	cs.Location = loc
	s.cron = cs
	if s.Next(now).IsZero() {
		return nil, neverFires(quote(spec) + " never fires: no time matches it within 5 years (e.g. 30 February)")
	}
	return s, nil
}

// ParseWithYear is Parse with a year field (crontab files in supercronic's
// 6- and 7-field forms): year is *, ?, or years 1970-2099 as numbers,
// ranges, lists and steps ("2027", "2027-2030", "2027,2029", "*/2").
// The spec shown by String includes it.
func ParseWithYear(spec, year string, loc *time.Location, now time.Time) (*Schedule, error) {
	ys, err := parseYears(year)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(strings.TrimSpace(spec), "@") {
		return nil, errors.New("a year field goes with the 5 or 6 time fields, not with " + quote(spec))
	}
	s, err := Parse(spec, loc, now)
	if err != nil {
		return nil, err
	}
	s.spec += " " + strings.TrimSpace(year)
	if ys != nil {
		s.years = ys
		if s.Next(now).IsZero() {
			return nil, neverFires(quote(s.spec) + " never fires: no time matches it within 5 years")
		}
	}
	return s, nil
}

// neverFires is the error of a valid spec that names no time within
// Horizon; see NeverFires.
type neverFires string

func (e neverFires) Error() string { return string(e) }

// NeverFires reports whether err says the spec is valid but names no time
// within Horizon (rather than being malformed).
func NeverFires(err error) bool {
	_, ok := err.(neverFires)
	return ok
}

// String is the spec as given (trimmed).
func (s *Schedule) String() string { return s.spec }

// Location is where the schedule's wall-clock fields are read.
func (s *Schedule) Location() *time.Location { return s.loc }

// Every is the interval of an @every schedule, else 0.
func (s *Schedule) Every() time.Duration { return s.every }

// Next returns the first time strictly after after at which the schedule
// fires, in the schedule's location, or the zero time if there is none
// within Horizon. @every schedules fire every interval after after,
// rounded to whole seconds.
func (s *Schedule) Next(after time.Time) time.Time {
	if s.years == nil {
		return s.next(after)
	}
	limit := after.Add(Horizon)
	t := after
	for {
		n := s.next(t)
		if n.IsZero() || n.After(limit) {
			return time.Time{}
		}
		if s.years.has(n.Year()) {
			return n
		}
		y := s.years.after(n.Year())
		if y == 0 {
			return time.Time{}
		}
		t = time.Date(y, 1, 1, 0, 0, 0, 0, s.loc).Add(-time.Nanosecond)
	}
}

func (s *Schedule) next(after time.Time) time.Time {
	after = after.In(s.loc)
	if s.cron == nil {
		return after.Add(s.every - time.Duration(after.Nanosecond()))
	}
	fixedHour := s.cron.Hour&starBit == 0
	t := after
	for range 8 { // a few repeated wall times to skip at most
		n := s.cron.Next(t)
		if n.IsZero() || !fixedHour {
			return n
		}
		if gap := s.skippedMatch(after, n); !gap.IsZero() {
			return gap
		}
		if !repeatedWallTime(n) {
			return n
		}
		t = n
	}
	return time.Time{}
}

// skippedMatch returns the first forward DST change in (after, n) whose
// skipped wall-clock times include a time the schedule names, or zero.
func (s *Schedule) skippedMatch(after, n time.Time) time.Time {
	t := after
	for i := 0; i < 64; i++ {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(n) {
			return time.Time{}
		}
		_, offBefore := end.Add(-time.Second).Zone()
		_, offAfter := end.Zone()
		if gap := time.Duration(offAfter-offBefore) * time.Second; gap > 0 {
			// The wall clock jumps from W to W+gap at end: read W as a
			// zoneless clock and test each minute up to W+gap.
			w := wall(end.Add(-time.Second)).Add(time.Second)
			for m := time.Duration(0); m < gap; m += time.Minute {
				if s.matchesMinute(w.Add(m)) && end.After(after) {
					return end
				}
			}
		}
		t = end
	}
	return time.Time{}
}

// matchesMinute reports whether the wall-clock minute of w (a UTC value
// standing for a zoneless clock reading) has a time the schedule names.
func (s *Schedule) matchesMinute(w time.Time) bool {
	c := s.cron
	bit := func(field uint64, v int) bool { return field&(1<<uint(v)) != 0 }
	if !bit(c.Month, int(w.Month())) || !bit(c.Hour, w.Hour()) || !bit(c.Minute, w.Minute()) || c.Second&^starBit == 0 {
		return false
	}
	dom, dow := bit(c.Dom, w.Day()), bit(c.Dow, int(w.Weekday()))
	if c.Dom&starBit != 0 || c.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// repeatedWallTime reports whether t is the second occurrence of its wall
// clock reading (the hour repeated when clocks go back).
func repeatedWallTime(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, offBefore := start.Add(-time.Second).Zone()
	_, offNow := t.Zone()
	back := time.Duration(offBefore-offNow) * time.Second
	return back > 0 && t.Sub(start) < back
}

// wall returns t's wall clock reading as a UTC time.
func wall(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	return time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), time.UTC)
}

// locations caches loaded zones by name: a reload then gets the same
// *time.Location, and reads no zone file again.
var locations struct {
	sync.Mutex
	m map[string]*time.Location
}

// LoadLocation resolves a timezone value: an IANA name such as
// "Europe/Berlin", "UTC" or "Local" (tend's /etc/localtime), or the path of
// a zone file ("/etc/localtime"); a leading ":" (TZ=:Europe/Berlin) is
// ignored. It reads the
// zone file the first time a name is asked for (call it off the event
// loop); later calls return the same *time.Location.
//
// Every zone file is read as tend reads all its files (package readfile):
// only a regular file of at most ZoneMax bytes, opened without blocking, so
// "/dev/zero" or a named pipe is an error naming the path and what it is,
// never an unbounded read or an open that hangs.
func LoadLocation(name string) (*time.Location, error) {
	name = strings.TrimPrefix(name, ":")
	if name == "" {
		return nil, errors.New("empty time zone name")
	}
	locations.Lock()
	defer locations.Unlock()
	if loc := locations.m[name]; loc != nil {
		return loc, nil
	}
	loc, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	if locations.m == nil {
		locations.m = map[string]*time.Location{}
	}
	locations.m[name] = loc
	return loc, nil
}

// ZoneMax bounds a zone file: Go's own limit; real ones are under 4 KiB.
const ZoneMax = 10 << 20

// platformZoneDirs are where Go looks up an IANA name, in its order.
var platformZoneDirs = []string{"/usr/share/zoneinfo/", "/usr/share/lib/zoneinfo/", "/usr/lib/locale/TZ/", "/etc/zoneinfo/"}

// zoneDirs are where LoadLocation looks up an IANA name, as Go's
// time.LoadLocation: $ZONEINFO first, then the platform's directories.
func zoneDirs() []string {
	if z := os.Getenv("ZONEINFO"); z != "" {
		return append([]string{z + "/"}, platformZoneDirs...)
	}
	return platformZoneDirs
}

func loadZone(name string) (*time.Location, error) {
	if strings.HasPrefix(name, "/") {
		// TZ=/etc/localtime or TZ=:/usr/share/zoneinfo/Europe/Berlin: a
		// zone file named by its path, as the C library accepts.
		return zoneFile(name, name)
	}
	if name == "UTC" || name == "Local" || strings.Contains(name, "..") || strings.HasPrefix(name, `\`) {
		return time.LoadLocation(name) // no file, or refused by Go itself
	}
	for _, dir := range zoneDirs() {
		if _, err := os.Lstat(dir + name); err == nil {
			return zoneFile(name, dir+name)
		}
	}
	// Not in a directory: Go's embedded copy (-tags timetzdata) or a
	// $ZONEINFO zip, which Go reads itself, bounded; but Go opens the zip
	// with a plain open, so check first that it is a bounded regular file
	// (a named pipe there blocked the lookup forever).
	if z := os.Getenv("ZONEINFO"); strings.HasSuffix(z, ".zip") {
		if _, err := readfile.Read(z, ZoneMax); err != nil && !errors.Is(err, fs.ErrNotExist) {
			var re *readfile.Error
			if errors.As(err, &re) {
				return nil, errors.New(quote(name) + ": ZONEINFO zone archive " + re.Error())
			}
			return nil, errors.New(quote(name) + ": ZONEINFO: " + err.Error())
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		msg := quote(name) + " is not a known time zone; accepted: an IANA name such as \"Europe/Berlin\" or \"UTC\""
		if _, serr := os.Stat("/usr/share/zoneinfo"); serr != nil && os.Getenv("ZONEINFO") == "" {
			msg += " (this system has no /usr/share/zoneinfo: install tzdata or set ZONEINFO)"
		}
		return nil, errors.New(msg)
	}
	return loc, nil
}

// zoneFile loads the zone called name from the file at path, bounded.
func zoneFile(name, path string) (*time.Location, error) {
	data, err := readfile.Read(path, ZoneMax)
	if err != nil {
		var re *readfile.Error
		if errors.As(err, &re) {
			return nil, errors.New(quote(name) + ": zone file " + re.Error())
		}
		return nil, errors.New(quote(name) + " is not a known time zone: " + err.Error())
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, errors.New(quote(name) + ": " + path + " is not a zone file (" + err.Error() + "); accepted: a TZif file such as /usr/share/zoneinfo/Europe/Berlin")
	}
	return loc, nil
}

// GuardLocal keeps Go's own time.Local from reading a zone file that is
// not a bounded regular file. Go loads time.Local on its first use from $TZ
// (a path, or a name under /usr/share/zoneinfo) or /etc/localtime, with a
// plain open: a named pipe there blocks that first use (a log timestamp)
// forever. Call it first in main: when the file Go would read is not a
// regular file of at most ZoneMax bytes, time.Local becomes UTC (as Go
// does for an unknown zone) and the error says why; tend's children still
// get $TZ unchanged.
func GuardLocal() error {
	tz, ok := os.LookupEnv("TZ")
	tz = strings.TrimPrefix(tz, ":")
	var path string
	switch {
	case !ok:
		path = "/etc/localtime"
	case tz == "" || tz == "UTC" || strings.Contains(tz, ".."):
		return nil
	case strings.HasPrefix(tz, "/"):
		path = tz
	default:
		for _, dir := range platformZoneDirs { // Go's time.Local ignores $ZONEINFO
			if _, err := os.Lstat(dir + tz); err == nil {
				path = dir + tz
				break
			}
		}
	}
	if path == "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil // absent: Go falls back to UTC without reading
	}
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size <= ZoneMax {
		return nil
	}
	time.Local = time.UTC
	_, err := readfile.Read(path, ZoneMax)
	if err == nil {
		err = errors.New(path + ": not a regular file")
	}
	return errors.New("local time zone: " + err.Error() + "; using UTC")
}

// DefaultLocation is the location of a schedule without a timezone: the
// TZ environment variable when set and not empty, else UTC.
func DefaultLocation(getenv func(string) (string, bool)) (*time.Location, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if tz, ok := getenv("TZ"); ok && tz != "" {
		loc, err := LoadLocation(tz)
		if err != nil {
			return nil, errors.New("TZ=" + err.Error())
		}
		return loc, nil
	}
	return time.UTC, nil
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// Years a year field accepts (cronexpr's range, as supercronic).
const minYear, maxYear = 1970, 2099

type yearSet struct{ in [maxYear - minYear + 1]bool }

func (ys *yearSet) has(y int) bool { return y >= minYear && y <= maxYear && ys.in[y-minYear] }

// after returns the first year in the set after y, or 0.
func (ys *yearSet) after(y int) int {
	for x := max(y+1, minYear); x <= maxYear; x++ {
		if ys.in[x-minYear] {
			return x
		}
	}
	return 0
}

const yearForm = "*, or years 1970-2099: 2027, 2027-2030, 2027,2029, */2"

// parseYears parses a year field; nil means every year.
func parseYears(f string) (*yearSet, error) {
	if f == "*" || f == "?" {
		return nil, nil
	}
	bad := func() (*yearSet, error) {
		return nil, errors.New("year field " + quote(f) + " is not valid; accepted: " + yearForm)
	}
	ys := &yearSet{}
	for _, item := range strings.Split(f, ",") {
		rng, stepS, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, ok := atoi(stepS)
			if !ok || n < 1 {
				return bad()
			}
			step = n
		}
		lo, hi := minYear, maxYear
		switch a, b, isRange := strings.Cut(rng, "-"); {
		case rng == "*":
		case isRange:
			var ok1, ok2 bool
			lo, ok1 = atoi(a)
			hi, ok2 = atoi(b)
			if !ok1 || !ok2 {
				return bad()
			}
		default:
			var ok bool
			if lo, ok = atoi(rng); !ok {
				return bad()
			}
			if !hasStep {
				hi = lo
			}
		}
		if lo < minYear || hi > maxYear || lo > hi {
			return bad()
		}
		for y := lo; y <= hi; y += step {
			ys.in[y-minYear] = true
		}
	}
	return ys, nil
}

func atoi(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
