package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/tend-sh/tend/internal/signals"
	"github.com/tend-sh/tend/internal/status"
)

// Version is the protocol version this package speaks.
const Version = 1

// MaxRequest is the largest request line accepted, newline included.
const MaxRequest = 64 << 10

// Limits on a request's contents.
const (
	maxNames   = 1024
	maxNameLen = 256
)

// The operations.
const (
	OpStatus   = "status"
	OpStart    = "start"
	OpStop     = "stop"
	OpRestart  = "restart"
	OpSignal   = "signal"
	OpLogs     = "logs"
	OpShutdown = "shutdown"
	OpRun      = "run" // start one run of a scheduled job now
)

// Error codes of a failed Reply.
const (
	CodeBadRequest = "bad_request"     // malformed, oversized or invalid request
	CodeUnknown    = "unknown_service" // a name is not known (ErrUnknownService)
	CodePermission = "permission"      // the peer's uid may not use the socket
	CodeBusy       = "busy"            // too many connections
	CodeFailed     = "failed"          // the operation itself failed
)

// Request is one client request.
type Request struct {
	V      int      `json:"v"`
	Op     string   `json:"op"`
	Names  []string `json:"names,omitempty"`
	Signal string   `json:"signal,omitempty"` // op signal: a name (TERM, SIGTERM) or number
	Lines  int      `json:"lines,omitempty"`  // op logs: recent lines per service; < 0 all kept, 0 none
	Follow bool     `json:"follow,omitempty"` // op logs: then stream new lines
	Usage  bool     `json:"usage,omitempty"`  // op status: with CPU and memory (usage.go)
}

// Reply is the server's answer to a request.
type Reply struct {
	V            int                    `json:"v"`
	OK           bool                   `json:"ok"`
	Error        string                 `json:"error,omitempty"`
	Code         string                 `json:"code,omitempty"`
	Services     []status.ServiceStatus `json:"services,omitempty"`
	ShuttingDown bool                   `json:"shutting_down,omitempty"`
	// Totals: op status with usage, the orphans' and the container's.
	status.Totals
}

// LogMsg is one message of a logs stream after the Reply: a line, the end
// of the stream, or an error that ends it (a follower that fell behind).
type LogMsg struct {
	Line  *LogLine `json:"line,omitempty"`
	End   bool     `json:"end,omitempty"`
	Error string   `json:"error,omitempty"`
}

// LogLine is a service's log line on the wire. Text is the line as a JSON
// string: bytes that are not valid UTF-8 arrive as U+FFFD.
type LogLine struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"`
	Stream  string    `json:"stream"` // stdout|stderr
	Seq     uint64    `json:"seq"`
	Cont    bool      `json:"cont,omitempty"` // a continuation piece of an overlong line
	Text    string    `json:"text"`
}

// requestError is a Decode error; the reply carries CodeBadRequest.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// Decode parses and validates one request line (without or with its
// newline). Every error it returns is meant for an error reply.
func Decode(line []byte) (Request, error) {
	var req Request
	if len(line) > MaxRequest {
		return req, badRequest("request too large (limit %d bytes)", MaxRequest)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return Request{}, badRequest("malformed request: invalid JSON at offset %d", se.Offset)
		case errors.As(err, &te):
			return Request{}, badRequest("malformed request: field %q has the wrong type", te.Field)
		}
		return Request{}, badRequest("malformed request: %v", err)
	}
	if req.V != Version {
		return req, badRequest("unsupported protocol version %d (this tend speaks %d)", req.V, Version)
	}
	if len(req.Names) > maxNames {
		return req, badRequest("too many names (limit %d)", maxNames)
	}
	for _, n := range req.Names {
		if n == "" || len(n) > maxNameLen || !utf8.ValidString(n) {
			return req, badRequest("invalid service name %q", truncate(n, 64))
		}
	}
	switch req.Op {
	case OpStatus, OpShutdown, OpReopenLogs:
	case OpStart, OpStop, OpRestart:
		if len(req.Names) == 0 {
			return req, badRequest("%s needs at least one service name", req.Op)
		}
	case OpRun:
		if len(req.Names) != 1 {
			return req, badRequest("run needs exactly one job name")
		}
	case OpSignal:
		if len(req.Names) != 1 {
			return req, badRequest("signal needs exactly one service name")
		}
		if _, err := ParseSignal(req.Signal); err != nil {
			return req, badRequest("%v", err)
		}
	case OpLogs:
		if req.Lines < -1 {
			req.Lines = -1
		}
	case "":
		return req, badRequest("missing op")
	default:
		return req, badRequest("unknown op %q", truncate(req.Op, 64))
	}
	return req, nil
}

// ParseSignal parses "HUP", "SIGHUP", "hup" or "1".
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return 0, errors.New("missing signal")
	}
	return signals.Parse(s, false)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// errorReply is the reply for err: its code is derived from the error.
func errorReply(err error) Reply {
	code := CodeFailed
	var re *requestError
	switch {
	case errors.As(err, &re):
		code = CodeBadRequest
	case errors.Is(err, ErrUnknownService):
		code = CodeUnknown
	}
	return Reply{V: Version, Error: err.Error(), Code: code}
}

// exitCode maps a reply's error code to a command's exit code.
func exitCode(code string) int {
	switch code {
	case CodeUnknown:
		return ExitUnknown
	case CodePermission:
		return ExitPermission
	case CodeBadRequest:
		return ExitUsage
	}
	return ExitFailed
}
