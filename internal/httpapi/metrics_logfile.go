package httpapi

import (
	"bytes"
	"strconv"

	"github.com/tend-sh/tend/internal/logfile"
)

var mLogWriteErrors = metric{"tend_log_write_errors_total", "counter", "Writes to services' log files that failed (a full disk, an I/O error, a failed rotation or reopen); the lines of a failed write are lost for the file, never for the service."}

// writeLogFileMetrics writes tend_log_write_errors_total when some service
// has a log file.
func writeLogFileMetrics(b *bytes.Buffer) {
	if !logfile.InUse() {
		return
	}
	header(b, mLogWriteErrors)
	b.WriteString(mLogWriteErrors.name + " " + strconv.FormatUint(logfile.WriteErrors(), 10) + "\n")
}
