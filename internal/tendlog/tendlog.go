// Package tendlog is the slog handler for tend's own messages: one line per
// record, "tend: message key=value ...", written with a single write so it
// never interleaves with service output mid-line.
package tendlog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"unicode/utf8"
)

// LevelFor maps the number of -v flags to the lowest level shown: errors
// and warnings by default, lifecycle detail (Info) with -v, Debug with -vv;
// errors only below zero (tini's TINI_VERBOSITY=0).
func LevelFor(verbose int) slog.Level {
	switch {
	case verbose < 0:
		return slog.LevelError
	case verbose >= 2:
		return slog.LevelDebug
	case verbose == 1:
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// Handler writes records as "tend: msg k=v".
type Handler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []byte // preformatted attributes from WithAttrs
}

// New returns a logger writing to w at the given level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&Handler{mu: new(sync.Mutex), w: w, level: level})
}

// Enabled reports whether level is shown.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle formats and writes one record.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 128)
	buf = append(buf, "tend: "...)
	buf = append(buf, r.Message...)
	buf = append(buf, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, a)
		return true
	})
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]byte(nil), h.attrs...)
	for _, a := range attrs {
		n.attrs = appendAttr(n.attrs, a)
	}
	return &n
}

// WithGroup is accepted and ignored: tend's messages are flat.
func (h *Handler) WithGroup(string) slog.Handler { return h }

func appendAttr(buf []byte, a slog.Attr) []byte {
	if a.Equal(slog.Attr{}) {
		return buf
	}
	buf = append(buf, ' ')
	buf = append(buf, a.Key...)
	buf = append(buf, '=')
	v := a.Value.Resolve().String()
	if needsQuote(v) {
		return strconv.AppendQuote(buf, v)
	}
	return append(buf, v...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == ' ' || r == '"' || r == '=' || r < 0x20 || r == utf8.RuneError {
			return true
		}
		i += n
	}
	return false
}
