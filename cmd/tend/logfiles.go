package main

import (
	"fmt"
	"log/slog"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/control"
	"github.com/tend-sh/tend/internal/logfile"
	"github.com/tend-sh/tend/internal/logs"
)

// attachLogFiles opens the log file of every service of c that has one
// (key log = { file = ... }) and routes its lines there; the other
// services' lines go to tend's stdout and stderr. Every file is opened
// before any route changes, so a failure (reported naming the service and
// the path) leaves the routes as they were. Called at the start and, off
// the event loop, by each reload.
func attachLogFiles(mux *logs.Mux, files *logfile.Set, c *config.Config) error {
	if mux == nil || c == nil {
		return nil
	}
	ws := make([]*logfile.Writer, len(c.Services))
	var paths []string
	for i, s := range c.Services {
		lf := s.LogFile
		if lf == nil {
			continue
		}
		w, err := files.Open(lf.Path, logfile.Options{MaxSize: lf.MaxSize, MaxFiles: lf.MaxFiles})
		if err != nil {
			files.Revert() // the files this call opened: the routes stay as they were
			return fmt.Errorf("%s:%d: service.%s.log.file: cannot open the log file %s: %w", s.File, s.Line, s.Name, lf.Path, err)
		}
		ws[i] = w
		paths = append(paths, lf.Path)
	}
	// The files no service writes any more (a reload changed or removed
	// them) are closed, and "tend logs --reopen" no longer recreates them.
	defer files.Keep(paths)
	for i, s := range c.Services {
		if ws[i] == nil {
			mux.SetFile(s.Name, nil, false)
			continue
		}
		mux.SetFile(s.Name, ws[i], s.LogFile.Stdout)
	}
	return nil
}

// logFileWarnings says, for `tend check`, which log files could not be
// opened where tend runs now (a warning only, as for limits: an image may
// be checked where it will not run). Nothing is created.
func logFileWarnings(c *config.Config) []string {
	var out []string
	for _, s := range c.Services {
		if s.LogFile == nil {
			continue
		}
		if err := logfile.Check(s.LogFile.Path); err != nil {
			out = append(out, fmt.Sprintf("warning: %s:%d: service.%s.log.file: could not be opened here (tend would exit 2 at the start): %v", s.File, s.Line, s.Name, err))
		}
	}
	return out
}

// reportLogFile reports a log file's failure once (logfile calls it again
// only after a write has succeeded since).
func reportLogFile(log *slog.Logger) func(path string, err error) {
	return func(path string, err error) {
		log.Error("log file: write failed; its lines are lost until a write succeeds (reported once, counted in tend_log_write_errors_total)", "file", path, "err", err)
	}
}

// fileLogs is the control socket's LogSource with the log files to reopen
// ("tend logs --reopen").
type fileLogs struct {
	control.LogSource
	files *logfile.Set
}

func (f fileLogs) ReopenLogs() error { return f.files.Reopen() }
