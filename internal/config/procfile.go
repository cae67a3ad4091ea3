package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tend-sh/tend/internal/readfile"
	"github.com/tend-sh/tend/internal/shellwords"
)

// LoadProcfile loads a Procfile: one "name: command" per line, in UTF-8;
// blank lines and lines starting with # are skipped. The name follows the service name
// rules; the command is split like shell words and ${VAR} is expanded in
// each word as in the TOML format. It is not run through a shell: write
// "web: sh -c 'cd app && exec ./server'" for shell syntax.
//
// A .env file beside the Procfile, if present, is read with ParseEnvFile into
// every service's Env. Both must be regular files of at most 4 MiB
// (readfile.Max). As with foreman, any exit stops everything: every
// service has restart = "never" and critical = true; everything else has
// the defaults of the TOML format, and the services start all at once.
func LoadProcfile(path string, getenv Getenv) (*Config, error) {
	data, err := readfile.Read(path, readfile.Max)
	if err != nil {
		return nil, &Error{File: path, Msg: fileErr(err)}
	}
	envPath := filepath.Join(filepath.Dir(path), ".env")
	dotenv, err := readEnvFile(envPath)
	if err != nil {
		var ce *Error
		switch {
		case errors.Is(err, fs.ErrNotExist):
			dotenv = nil
		case errors.As(err, &ce):
			return nil, err
		default:
			return nil, &Error{File: envPath, Msg: fileErr(err)}
		}
	}
	return parseProcfile(path, data, dotenv, getenv)
}

func parseProcfile(name string, data []byte, env []string, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	c := &Config{File: name, Grace: DefaultGrace, LogFormat: DefaultLogFormat}
	lines := map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		errf := func(key, msg string) error { return &Error{File: name, Line: lineNo, Key: key, Msg: msg} }
		if !utf8.ValidString(line) {
			return nil, errf("", "not valid UTF-8")
		}
		svc, cmd, ok := strings.Cut(line, ":")
		if !ok {
			return nil, errf("", "not a \"name: command\" line: "+quoteSnippet(line))
		}
		svc, cmd = strings.TrimSpace(svc), strings.TrimSpace(cmd)
		if !validServiceName(svc) {
			return nil, errf("", tomlQuote(svc)+" is not a service name; accepted: "+serviceNameForm)
		}
		if svc == ReservedName {
			return nil, errf(svc, reservedMsg)
		}
		if first, dup := lines[svc]; dup {
			return nil, errf(svc, "defined twice (first at line "+strconv.Itoa(first)+")")
		}
		lines[svc] = lineNo
		words, err := shellwords.Split(cmd)
		if err != nil {
			return nil, errf(svc, err.Error())
		}
		if len(words) == 0 {
			return nil, errf(svc, "empty command")
		}
		for i, w := range words {
			x, msg := expand(w, getenv)
			if msg != "" {
				return nil, errf(svc, msg)
			}
			if strings.IndexByte(x, 0) >= 0 {
				return nil, errf(svc, "a word contains a NUL byte")
			}
			words[i] = x
		}
		if words[0] == "" {
			return nil, errf(svc, "the program name is empty")
		}
		s := newService(svc, lineNo)
		s.File = name
		s.Command = words
		s.Env = append([]string(nil), env...)
		if len(s.Env) == 0 {
			s.Env = nil
		}
		s.Restart = "never"
		s.Critical = true
		c.Services = append(c.Services, s)
	}
	if len(c.Services) == 0 {
		return nil, &Error{File: name, Msg: "no services; write one \"name: command\" line per service"}
	}
	return c, nil
}
