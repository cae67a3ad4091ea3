package config

import (
	"strings"

	"github.com/tend-sh/tend/internal/readfile"
)

// ParseEnvFile parses the contents of an env_file (or a Procfile's .env):
//
//   - one KEY=VALUE per line; blank lines and lines starting with # are
//     skipped (# elsewhere is part of the value);
//   - an optional "export " prefix is ignored;
//   - blanks around KEY and VALUE are trimmed;
//   - VALUE may be enclosed in single or double quotes, which are removed;
//     there are no escapes and no multi-line values;
//   - nothing is expanded: $ is an ordinary character;
//   - KEY is letters, digits, _ . - and does not start with a digit;
//   - a KEY given twice keeps its first position and its last value.
//
// name is used in errors, which are *Error with the line.
func ParseEnvFile(name string, data []byte) ([]string, error) {
	var env envList
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimSpace(rest)
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, &Error{File: name, Line: lineNo, Msg: "not a KEY=VALUE line: " + quoteSnippet(line)}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !validEnvName(k) {
			return nil, &Error{File: name, Line: lineNo, Msg: notEnvName(k)}
		}
		if v != "" && (v[0] == '\'' || v[0] == '"') {
			if len(v) < 2 || v[len(v)-1] != v[0] {
				return nil, &Error{File: name, Line: lineNo, Key: k, Msg: "unterminated quote (" + string(v[0]) + "...); a value is on one line"}
			}
			v = v[1 : len(v)-1]
		}
		if strings.IndexByte(v, 0) >= 0 {
			return nil, &Error{File: name, Line: lineNo, Key: k, Msg: "a value cannot contain a NUL byte"}
		}
		env.set(k, v)
	}
	return env.list(), nil
}

// readEnvFile reads and parses an env file: a regular file of at most
// 4 MiB (readfile.Max).
func readEnvFile(path string) ([]string, error) {
	data, err := readfile.Read(path, readfile.Max)
	if err != nil {
		return nil, err
	}
	return ParseEnvFile(path, data)
}

func validEnvName(s string) bool {
	return s != "" && !(s[0] >= '0' && s[0] <= '9') && nameChars(s)
}

// notEnvName is the error message for a name validEnvName refuses.
func notEnvName(k string) string {
	return tomlQuote(k) + " is not a variable name; accepted: letters, digits, _ . - not starting with a digit"
}

// envList is an ordered set of variables: a name set again keeps its place
// and takes the new value.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.names = append(e.names, k)
	}
	e.vals[k] = v
}

func (e *envList) setAll(kvs []string) {
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		e.set(k, v)
	}
}

func (e *envList) list() []string {
	if len(e.names) == 0 {
		return nil
	}
	out := make([]string, len(e.names))
	for i, k := range e.names {
		out[i] = k + "=" + e.vals[k]
	}
	return out
}
