package config

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tend-sh/tend/internal/readfile"
)

// Sets of files: tend -c a.toml -c conf.d/ --crontab FILE.

const configPathForm = "a TOML file, or a directory of *.toml files"

// LoadSet loads a set of configuration sources into one Config: configs are
// TOML files and directories (each directory contributes its *.toml files
// in lexical order; other entries are ignored), in the order given;
// crontabs are crontab files (see LoadCrontab) whose lines become jobs,
// after those of crontab keys. Each file is parsed on its own (relative
// paths resolve against its directory), then:
//
//   - a service defined in two files is an error naming both file:line;
//   - a top-level setting (grace, log_format, log_timestamps, crontab) set
//     in two files must have the same value, else an error names both;
//   - after may name a service of any file; the set must define at least
//     one service or job.
//
// Config.File is the first file loaded (or the first crontab).
func LoadSet(configs, crontabs []string, getenv Getenv) (*Config, error) {
	if len(configs) == 0 && len(crontabs) == 0 {
		return nil, &Error{Msg: "nothing to load; accepted: " + configPathForm + ", or a crontab file"}
	}
	files, err := expandConfigs(configs)
	if err != nil {
		return nil, err
	}
	var parts []*part
	for _, f := range files {
		data, err := readfile.Read(f, readfile.Max)
		if err != nil {
			return nil, &Error{File: f, Msg: fileErr(err)}
		}
		p, err := parsePart(f, data, getenv, true) // finish checks the set has services
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 && len(crontabs) == 0 {
		return nil, &Error{File: configs[0], Msg: "no *.toml file in the directory; accepted: " + configPathForm}
	}
	c, err := merge(parts)
	if err != nil {
		return nil, err
	}
	if c.File == "" && len(crontabs) > 0 {
		c.File = crontabs[0]
	}
	return finish(c, parts, crontabs, getenv)
}

// expandConfigs replaces each directory by its *.toml files, sorted.
func expandConfigs(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, &Error{File: p, Msg: fileErr(err) + "; accepted: " + configPathForm}
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p) // sorted by name
		if err != nil {
			return nil, &Error{File: p, Msg: "cannot read the directory: " + fileErr(err) + "; accepted: " + configPathForm}
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".toml") || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			out = append(out, filepath.Join(p, e.Name()))
		}
	}
	return out, nil
}

// where renders file:line.
func where(file string, line int) string {
	if line > 0 {
		return file + ":" + strconv.Itoa(line)
	}
	return file
}

// merge joins the parts of a set (see LoadSet).
func merge(parts []*part) (*Config, error) {
	c := &Config{Grace: DefaultGrace, LogFormat: DefaultLogFormat}
	type origin struct {
		file  string
		line  int
		value string
	}
	set := map[string]origin{}
	defined := map[string]*Service{}
	for _, p := range parts {
		pc := p.cfg
		if c.File == "" {
			c.File = pc.File
		}
		c.Files = append(c.Files, pc.File)
		for _, k := range []string{"crontab", "grace", "log_format", "log_timestamps"} {
			line, ok := p.settings[k]
			if !ok {
				continue
			}
			var v string
			switch k {
			case "crontab":
				v = p.crontab
			case "grace":
				v = pc.Grace.String()
				c.Grace = pc.Grace
			case "log_format":
				v = pc.LogFormat
				c.LogFormat = pc.LogFormat
			case "log_timestamps":
				v = strconv.FormatBool(pc.LogTimestamps)
				c.LogTimestamps = pc.LogTimestamps
			}
			if first, dup := set[k]; dup && first.value != v {
				return nil, &Error{File: pc.File, Line: line, Key: k,
					Msg: tomlQuote(v) + " differs from " + tomlQuote(first.value) + " set at " + where(first.file, first.line) + "; accepted: set it in one file, or to the same value"}
			} else if !dup {
				set[k] = origin{pc.File, line, v}
			}
		}
		for _, s := range pc.Services {
			if first := defined[s.Name]; first != nil && first.ReplicaOf == "" && s.ReplicaOf == "" {
				return nil, &Error{File: s.File, Line: s.Line, Key: joinKey([]string{"service", s.Name}),
					Msg: "defined twice (first at " + where(first.File, first.Line) + "); accepted: each service in one file"}
			}
			if defined[s.Name] == nil {
				defined[s.Name] = s
			}
			c.Services = append(c.Services, s)
		}
		for k, t := range pc.templates {
			if c.templates == nil {
				c.templates = map[string]*Service{}
			}
			c.templates[k] = t
		}
	}
	return c, nil
}

// finish adds the jobs of the crontab files (the parts' crontab keys, then
// extra) and checks the whole: at least one service, dependencies.
func finish(c *Config, parts []*part, extra []string, getenv Getenv) (*Config, error) {
	afterLines := map[string]int{}
	var crontabs []string
	for _, p := range parts {
		for k, v := range p.afterLines {
			afterLines[k] = v
		}
		if p.crontab != "" && !slices.Contains(crontabs, p.crontab) {
			crontabs = append(crontabs, p.crontab)
		}
	}
	crontabs = append(crontabs, extra...)
	now := time.Now()
	var byName map[string]*Service
	if len(crontabs) > 0 {
		byName = c.byName()
	}
	for _, path := range crontabs {
		jobs, err := loadCrontab(path, getenv, now)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			work.Add(1)
			if first := byName[j.Name]; first != nil {
				return nil, &Error{File: j.File, Line: j.Line,
					Msg: "job " + tomlQuote(j.Name) + " (named after this crontab file, its schedule and command) is already defined at " + where(first.File, first.Line) + "; accepted: rename the service or the crontab file"}
			}
			byName[j.Name] = j
			c.Services = append(c.Services, j)
		}
		c.Crontabs = append(c.Crontabs, path)
	}
	if len(c.Services) == 0 {
		msg := "no services; define at least one [service.NAME] table"
		if len(crontabs) > 0 {
			msg = "no services and no jobs: the crontab has no SPEC COMMAND line, and no [service.NAME] table is defined"
		}
		return nil, &Error{File: c.File, Msg: msg}
	}
	if err := checkNames(c.Services); err != nil {
		return nil, err
	}
	if err := c.checkGraph(afterLines); err != nil {
		return nil, err
	}
	return c, nil
}
