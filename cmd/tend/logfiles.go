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
	for i, s := range c.Services {
		lf := s.LogFile
		if lf == nil {
			continue
		}
		w, err := files.Open(lf.Path, logfile.Options{MaxSize: lf.MaxSize, MaxFiles: lf.MaxFiles})
		if err != nil {
			return fmt.Errorf("%s:%d: service.%s.log.file: cannot open the log file %s: %w", s.File, s.Line, s.Name, lf.Path, err)
		}
		ws[i] = w
	}
	for i, s := range c.Services {
		if ws[i] == nil {
			mux.SetFile(s.Name, nil, false)
			continue
		}
		mux.SetFile(s.Name, ws[i], s.LogFile.Stdout)
	}
	return nil
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
