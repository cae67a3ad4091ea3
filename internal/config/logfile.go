package config

import (
	"strconv"
	"strings"

	"github.com/tend-sh/tend/internal/quantity"
)

// LogFile is a service's log file (key log as a table): its lines go to
// Path, rotated at MaxSize with MaxFiles files kept in all; with Stdout
// they also still go to tend's stdout and stderr.
type LogFile struct {
	// Path (log.file, required) is absolute: a relative path is relative
	// to the config file's directory.
	Path string
	// MaxSize (log.max_size, default "50MB") is the size in bytes at
	// which the file is rotated; 0 never rotates (for an external
	// logrotate with "tend logs --reopen").
	MaxSize int64
	// MaxFiles (log.max_files, default 5, 1-1000) is the number of files
	// kept, the current one included: PATH, PATH.1 ... PATH.(MaxFiles-1).
	MaxFiles int
	// Stdout (log.stdout, default false) also forwards the lines to
	// tend's stdout and stderr.
	Stdout bool
}

// Defaults and limits of the log table.
const (
	DefaultLogMaxSize  = 50_000_000
	DefaultLogMaxFiles = 5
	MaxLogFiles        = 1000
)

var logFileKeys = []string{"file", "max_files", "max_size", "stdout"}

const logForm = `"prefixed", "inherit", or a table { file = PATH, max_size = SIZE, max_files = N, stdout = BOOL }`

// logKey decodes a service's log key: a mode (string) or a log file table.
func (d *decoder) logKey(s *Service, f *field, key string) error {
	var err error
	switch f.val.kind {
	case kString:
		s.Log, err = d.enum(f, key, append([]string{""}, logModes...), "a log mode")
		if s.Log == LogPrefixed {
			s.Log = ""
		}
		return err
	case kTable:
	default:
		return d.typeErr(f.val, key, logForm)
	}
	lf := &LogFile{MaxSize: DefaultLogMaxSize, MaxFiles: DefaultLogMaxFiles}
	err = d.subTable(f, key, logFileKeys, func(sub *field, subKey string) (err error) {
		switch sub.name {
		case "file":
			lf.Path, err = d.nonEmpty(sub, subKey, "a file path")
			lf.Path = d.resolve(lf.Path)
		case "max_size":
			lf.MaxSize, err = d.size(sub, subKey)
		case "max_files":
			lf.MaxFiles, err = d.integer(sub, subKey, 1, MaxLogFiles, "a number of files 1-"+strconv.Itoa(MaxLogFiles)+", the current one included")
		case "stdout":
			lf.Stdout, err = d.boolean(sub, subKey)
		}
		return err
	})
	if err != nil {
		return err
	}
	if lf.Path == "" {
		return d.errf(f.val.line, key+".file", "missing; accepted: a file path (the table form of log writes the service's lines to a file)")
	}
	s.LogFile = lf
	return nil
}

// size decodes a size in bytes: a whole number, or a string read by
// package quantity ("50MB", "64Mi").
func (d *decoder) size(f *field, key string) (int64, error) {
	var raw any
	switch v := f.val; v.kind {
	case kInt:
		raw = v.i
	case kString:
		s, err := d.str(v, key, "")
		if err != nil {
			return 0, err
		}
		raw = s
	default:
		return 0, d.typeErr(f.val, key, "a size: "+strings.TrimPrefix(quantity.Accepted, "want "))
	}
	n, err := quantity.Value(raw)
	if err != nil {
		return 0, d.errf(f.val.line, key, strings.Replace(err.Error(), "; want ", "; accepted: ", 1))
	}
	return n, nil
}
