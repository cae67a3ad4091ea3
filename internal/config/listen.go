package config

import (
	"strconv"
	"strings"

	"github.com/tend-sh/tend/internal/listen"
)

// The keys of issue 20's zero-downtime services: listen (sockets tend
// creates and passes on), ready = { notify = true } (sd_notify
// readiness) and watchdog.

const listenForm = `an array of "tcp://HOST:PORT", "tcp6://[ADDR]:PORT", "udp://HOST:PORT", "unix:///path" strings or { address = "…", name = "…" } tables`

// listenIndex finds the entry an error of listen.Parse is about: msg
// starts "listen[I]: " or "listen[I].FIELD: " (FIELD in a-z); it returns
// I, ".FIELD" or "", and the rest of msg. (By hand, not with regexp: the
// regexp package and the unicode tables it initialises cost every start
// of tend ~18 KB of heap.)
func listenIndex(msg string) (index, field, rest string, ok bool) {
	s, found := strings.CutPrefix(msg, "listen[")
	if !found {
		return "", "", "", false
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != ']' {
		return "", "", "", false
	}
	index, s = s[:i], s[i+1:]
	if strings.HasPrefix(s, ".") {
		j := 1
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		if j == 1 {
			return "", "", "", false
		}
		field, s = s[:j], s[j:]
	}
	rest, found = strings.CutPrefix(s, ": ")
	if !found {
		return "", "", "", false
	}
	return index, field, rest, true
}

// listen decodes the listen key: each entry is expanded (${VAR}) and
// handed to listen.Parse, whose errors are reported at the entry's line.
func (d *decoder) listen(f *field, key string) ([]listen.Addr, error) {
	if f.val.kind != kArray {
		return nil, d.typeErr(f.val, key, listenForm)
	}
	if len(f.val.arr) == 0 {
		return nil, d.errf(f.val.line, key, "empty; accepted: "+listenForm+" (leave listen out for none)")
	}
	raw := make([]any, len(f.val.arr))
	for i, v := range f.val.arr {
		ekey := key + "[" + strconv.Itoa(i) + "]"
		switch v.kind {
		case kString:
			s, err := d.str(v, ekey, "")
			if err != nil {
				return nil, err
			}
			raw[i] = s
		case kTable:
			m := map[string]any{}
			for _, k := range v.tbl.keys {
				ef := v.tbl.fields[k]
				if k != "address" && k != "name" {
					return nil, d.unknownIn(ef, ekey, []string{"address", "name"})
				}
				s, err := d.str(ef.val, ekey+"."+k, "a string")
				if err != nil {
					return nil, err
				}
				m[k] = s
			}
			raw[i] = m
		default:
			return nil, d.typeErr(v, ekey, `an address string or { address = "…", name = "…" }`)
		}
	}
	addrs, err := listen.Parse(raw)
	if err != nil {
		msg, line, ekey := err.Error(), f.val.line, key
		if index, field, rest, ok := listenIndex(msg); ok {
			i, _ := strconv.Atoi(index)
			if i < len(f.val.arr) {
				line = f.val.arr[i].line
			}
			ekey += "[" + index + "]" + field
			msg = rest
		}
		return nil, d.errf(line, ekey, msg)
	}
	return addrs, nil
}

// notifyKind checks ready.notify: only true is accepted.
func (d *decoder) notifyKind(f *field, key string) error {
	b, err := d.boolean(f, key)
	if err == nil && !b {
		err = d.errf(f.val.line, key, "false is not accepted; accepted: notify = true (or leave ready out, or choose another kind)")
	}
	return err
}

// checkNotify checks the keys of issue 20 together: watchdog needs
// notify readiness (WATCHDOG=1 comes over NOTIFY_SOCKET, which only
// notify services get) and no job or oneshot; listen's sockets take fds
// 3, 4, … so a ready fd must come after them.
func (d *decoder) checkNotify(s *Service, base []string, readyF, listenF, watchdogF *field) error {
	key := func(k string) string { return joinKey(append(base, k)) }
	if watchdogF != nil {
		switch {
		case s.IsJob() || s.Oneshot:
			return d.errf(watchdogF.line, key("watchdog"), "not allowed on a job or a oneshot: only a long-running service is watched")
		case s.Ready == nil || s.Ready.Kind != ProbeNotify:
			return d.errf(watchdogF.line, key("watchdog"), "needs ready = { notify = true }: WATCHDOG=1 comes over the service's NOTIFY_SOCKET, which only notify services get")
		}
	}
	if listenF != nil && s.Ready != nil && s.Ready.Kind == ProbeFD && s.Ready.FD < 3+len(s.Listen) {
		return d.errf(readyF.line, key("ready")+".fd", strconv.Itoa(s.Ready.FD)+" is taken by listen's sockets (fds 3-"+strconv.Itoa(2+len(s.Listen))+"); accepted: an fd from "+strconv.Itoa(3+len(s.Listen))+" to "+strconv.Itoa(maxFD))
	}
	return nil
}

// planListen renders s.Listen for `tend check`, as it loads back.
func planListen(b *strings.Builder, s *Service) {
	if len(s.Listen) == 0 {
		b.WriteString("# listen: none\n")
		return
	}
	entries := make([]string, len(s.Listen))
	for i, a := range s.Listen {
		entries[i] = str(a.Text)
		if a.Name != "" {
			entries[i] = "{ address = " + str(a.Text) + ", name = " + str(a.Name) + " }"
		}
	}
	kv(b, "listen", "["+strings.Join(entries, ", ")+"]")
	fds := "fd 3"
	if len(s.Listen) > 1 {
		fds = "fds 3-" + strconv.Itoa(2+len(s.Listen))
	}
	b.WriteString("# listen: passed as " + fds + " (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID); open while the service is configured\n")
}

// planWatchdog renders s.Watchdog for `tend check`.
func planWatchdog(b *strings.Builder, s *Service) {
	if s.Watchdog == 0 {
		if s.Ready != nil && s.Ready.Kind == ProbeNotify {
			b.WriteString("# watchdog: none\n")
		}
		return
	}
	kv(b, "watchdog", dur(s.Watchdog))
}
