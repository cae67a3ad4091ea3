package sysuser

import (
	"bytes"
	"iter"
	"strconv"
	"strings"
)

// passwdEntry is the part of a passwd(5) line tend uses:
// name:password:uid:gid:gecos:home:shell.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// groupEntry is the part of a group(5) line tend uses:
// name:password:gid:member,member,...
type groupEntry struct {
	name    string
	gid     uint32
	members string // raw comma-separated list; see hasMember
}

// parsePasswd parses passwd(5) data. Blank lines, comments (first
// non-blank byte '#'), NIS compat entries ('+'/'-'), lines with fewer than
// four fields, an empty name or a non-numeric uid/gid are skipped. Trailing
// fields may be missing. It never fails.
func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	var f [7]string
	for line := range lines(data) {
		n := splitFields(line, f[:])
		if n < 4 || !validName(f[0]) {
			continue
		}
		uid, ok1 := parseUint32(f[2])
		gid, ok2 := parseUint32(f[3])
		if !ok1 || !ok2 {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if n >= 6 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

// parseGroup parses group(5) data with the same leniency as parsePasswd;
// lines need at least three fields (the member list may be absent).
func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	var f [4]string
	for line := range lines(data) {
		n := splitFields(line, f[:])
		if n < 3 || !validName(f[0]) {
			continue
		}
		gid, ok := parseUint32(f[2])
		if !ok {
			continue
		}
		e := groupEntry{name: f[0], gid: gid}
		if n >= 4 {
			e.members = f[3]
		}
		out = append(out, e)
	}
	return out
}

// hasMember reports whether the comma-separated list contains name exactly
// (no whitespace trimming, as in glibc and runc).
func hasMember(list, name string) bool {
	if name == "" {
		return false
	}
	for list != "" {
		var m string
		m, list, _ = strings.Cut(list, ",")
		if m == name {
			return true
		}
	}
	return false
}

// lines yields the non-blank, non-comment lines of data, each trimmed of
// surrounding whitespace (which also drops a CR of CRLF files).
func lines(data []byte) iter.Seq[string] {
	return func(yield func(string) bool) {
		for len(data) > 0 {
			var line []byte
			line, data, _ = bytes.Cut(data, []byte{'\n'})
			line = bytes.TrimSpace(line)
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if !yield(string(line)) {
				return
			}
		}
	}
}

// splitFields splits line at ':' into f and returns how many fields were
// found (at most len(f); anything past the last slot stays in it).
func splitFields(line string, f []string) int {
	n := 0
	for n < len(f)-1 {
		i := strings.IndexByte(line, ':')
		if i < 0 {
			break
		}
		f[n], line = line[:i], line[i+1:]
		n++
	}
	f[n] = line
	return n + 1
}

func validName(s string) bool {
	return s != "" && s[0] != '+' && s[0] != '-'
}

func parseUint32(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}
