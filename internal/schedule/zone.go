package schedule

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tend-sh/tend/internal/readfile"
)

// ZoneSources are the directories a time zone name is looked up in, after
// $ZONEINFO, in the order Go's time package uses.
var ZoneSources = []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"}

// zoneForm says what a time zone value may be, for error messages.
const zoneForm = `accepted: an IANA name such as "Europe/Berlin" or "UTC", or the path of a zone file (a regular file of at most ` + "4 MiB" + `)`

// locations caches loaded zones by name: a reload then gets the same
// *time.Location, and reads no zone file again.
var locations struct {
	sync.Mutex
	m map[string]*time.Location
}

// LoadLocation resolves a timezone value: an IANA name such as
// "Europe/Berlin", "UTC" or "Local" (tend's own zone: $TZ, else
// /etc/localtime), or the path of a zone file ("/etc/localtime"); a
// leading ":" (TZ=:Europe/Berlin) is ignored.
//
// It is the one place tend reads a zone file. Every zone file, named by
// its path or found by its name in $ZONEINFO or the zoneinfo directories
// (ZoneSources), is read with package readfile: only a regular file of at
// most 4 MiB, opened without blocking, so /dev/zero or a named pipe is an
// error that says what the file is, never a read that fills memory or
// blocks. A name found in no directory falls back to Go's own lookup,
// which has the zones embedded when tend is built with -tags timetzdata.
//
// It reads the zone file the first time a name is asked for (call it off
// the event loop); later calls return the same *time.Location.
func LoadLocation(name string) (*time.Location, error) {
	name = strings.TrimPrefix(name, ":")
	if name == "" {
		return nil, errors.New(`empty time zone name; ` + zoneForm)
	}
	locations.Lock()
	defer locations.Unlock()
	if loc := locations.m[name]; loc != nil {
		return loc, nil
	}
	loc, err := loadZone(name, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if locations.m == nil {
		locations.m = map[string]*time.Location{}
	}
	locations.m[name] = loc
	return loc, nil
}

// loadZone loads the zone name (without a leading ':') uncached.
func loadZone(name string, getenv func(string) (string, bool)) (*time.Location, error) {
	switch {
	case name == "UTC":
		return time.UTC, nil
	case name == "Local":
		return localZone(getenv)
	case strings.HasPrefix(name, "/"):
		// TZ=/etc/localtime or TZ=:/usr/share/zoneinfo/Europe/Berlin: a
		// zone file named by its path, as the C library accepts.
		return zoneFile(name, name)
	case strings.Contains(name, "..") || strings.HasPrefix(name, `\`) || strings.IndexByte(name, 0) >= 0:
		// No IANA name has "..": it would reach outside the directories.
		return nil, errors.New(quote(name) + " is not a known time zone; " + zoneForm)
	}
	var dirs []string
	if zi, ok := getenv("ZONEINFO"); ok && zi != "" {
		if strings.HasSuffix(zi, ".zip") {
			// Go reads the zip itself; check first that it is a bounded
			// regular file.
			if _, err := readfile.Read(zi, readfile.Max); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, errors.New(quote(name) + ": ZONEINFO=" + fileError(err))
			}
		} else {
			dirs = append(dirs, zi)
		}
	}
	dirs = append(dirs, ZoneSources...)
	for _, dir := range dirs {
		loc, err := zoneFile(name, dir+"/"+name)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return loc, err
		}
	}
	// In no directory: Go's embedded zones (-tags timetzdata), or a
	// ZONEINFO zip checked above.
	loc, err := time.LoadLocation(name)
	if err != nil {
		msg := quote(name) + " is not a known time zone; " + zoneForm
		if _, serr := os.Stat(ZoneSources[0]); serr != nil {
			if zi, _ := getenv("ZONEINFO"); zi == "" {
				msg += " (this system has no " + ZoneSources[0] + ": install tzdata or set ZONEINFO)"
			}
		}
		return nil, errors.New(msg)
	}
	return loc, nil
}

// zoneFile loads the zone file at path as the zone called name. An error
// wraps fs.ErrNotExist when the file does not exist.
func zoneFile(name, path string) (*time.Location, error) {
	data, err := readfile.Read(path, readfile.Max)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(pe.Err, syscall.ENOTDIR) {
			err = &fs.PathError{Op: pe.Op, Path: pe.Path, Err: fs.ErrNotExist}
		}
		if errors.Is(err, fs.ErrNotExist) {
			if name == path {
				return nil, &zoneError{error: errors.New(quote(name) + " is not a time zone: no such file; " + zoneForm), notExist: true}
			}
			return nil, &zoneError{error: err, notExist: true}
		}
		return nil, errors.New(quote(name) + " is not a time zone: " + fileError(err))
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, errors.New(quote(name) + " is not a time zone: " + path + " is not a zone file (tzfile, as in /usr/share/zoneinfo); " + zoneForm)
	}
	return loc, nil
}

type zoneError struct {
	error
	notExist bool
}

func (e *zoneError) Is(target error) bool { return target == fs.ErrNotExist && e.notExist }

// fileError renders a readfile error: the path and what it is, without
// readfile's own "accepted" (zoneForm says it).
func fileError(err error) string {
	var re *readfile.Error
	if errors.As(err, &re) {
		reason, _, _ := strings.Cut(re.Reason, "; accepted:")
		return re.Path + ": " + reason + "; " + zoneForm
	}
	return err.Error()
}

// localZone is tend's own zone, found as Go's time package finds Local but
// with every file read bounded: $TZ when set ("" is UTC), else
// /etc/localtime; UTC when there is none.
func localZone(getenv func(string) (string, bool)) (*time.Location, error) {
	tz, ok := getenv("TZ")
	tz = strings.TrimPrefix(tz, ":")
	switch {
	case !ok:
		loc, err := zoneFile("Local", "/etc/localtime")
		if errors.Is(err, fs.ErrNotExist) {
			return time.UTC, nil
		}
		if err != nil {
			return nil, errors.New(`"Local" (tend's own time zone, /etc/localtime): ` + err.Error())
		}
		return loc, nil
	case tz == "" || tz == "Local":
		return time.UTC, nil
	}
	loc, err := loadZone(tz, getenv)
	if err != nil {
		return nil, errors.New(`"Local" (tend's own time zone, TZ=` + quote(tz) + `): ` + err.Error())
	}
	return loc, nil
}

// InitLocal sets time.Local, the zone Go formats local times in, to tend's
// own zone read the bounded way: $TZ when set ("" is UTC), else
// /etc/localtime; UTC when that is not a zone (as Go does). Go's own lazy
// lookup would open $TZ's file at the first local time formatted and read
// it unbounded: TZ=/path/of/a/fifo blocked whichever goroutine formatted a
// time first (the control server's status) forever. Call it first thing in
// main, before any goroutine starts.
func InitLocal() {
	loc, err := localZone(os.LookupEnv)
	if err != nil {
		loc = time.UTC
	}
	time.Local = loc
}
