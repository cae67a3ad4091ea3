package logs

// route is where a service's lines go when it has a file (SetFile).
type route struct {
	file   Writer
	stdout bool // also to the Mux's stdout and stderr
}

// Writer receives a batch of whole formatted lines in one call. A file
// writer (package logfile) must not block for long: it is called by the
// goroutine reading the service's pipe.
type Writer interface {
	Write(p []byte) (int, error)
}

// Separators of text lines in a file: stderr lines are marked.
const (
	sepStdout     = " | "
	sepStdoutCont = " + "
	sepStderr     = " ! "
	sepStderrCont = " !+ "
)

// SetFile sends the lines of the named service to w, in the Mux's format
// with timestamps always on, both streams together: in text, stderr lines
// are marked by the separator " ! " (" !+ " for continuations) instead of
// " | " (" + "); in JSON by their "stream" key. With stdout the lines also
// go to the Mux's stdout and stderr as before; without, only to w. A nil w
// restores the default (stdout and stderr only). It applies from the next
// batch of lines read; the ring, the subscribers and Stats are unchanged
// (Stats then counts what was written to w when stdout is false).
//
// w is called by the pipe's reading goroutine, never by the supervisor's
// loop; a slow w slows that service's output as a slow stdout does, and
// its errors are w's to report (they are ignored here).
func (m *Mux) SetFile(service string, w Writer, stdout bool) {
	m.mu.Lock()
	svc := m.service(service)
	m.mu.Unlock()
	if w == nil {
		svc.route.Store(nil)
		return
	}
	svc.route.Store(&route{file: w, stdout: stdout})
}
