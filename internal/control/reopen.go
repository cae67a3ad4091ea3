package control

import "errors"

// OpReopenLogs ("tend logs --reopen") reopens every service's log file,
// for an external logrotate that renamed them.
const OpReopenLogs = "reopen_logs"

// LogReopener is implemented by a LogSource whose services write log
// files: ReopenLogs closes and opens every one again.
type LogReopener interface {
	ReopenLogs() error
}

// reopenLogs asks l to reopen its files; a tend without log files has
// nothing to do and succeeds.
func reopenLogs(l LogSource) error {
	if l == nil {
		return errors.New("logs are not available")
	}
	if r, ok := l.(LogReopener); ok {
		return r.ReopenLogs()
	}
	return nil
}
