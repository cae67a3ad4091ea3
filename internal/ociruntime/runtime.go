package ociruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pelletier/go-toml/v2"
)

// ConfigFile chooses the real runtime when RuntimeEnv is not set (the
// containerd shim calls the runtime with containerd's environment, which an
// operator rarely controls): a TOML file with one key,
//
//	runtime = "crun"            # a name looked up in PATH, or an absolute path
//
// It must be owned by root (or tend-runc's user) and writable by nobody else.
var ConfigFile = "/etc/tend/runc.toml"

// RuntimeEnv, when set, overrides ConfigFile.
const RuntimeEnv = "TEND_RUNC_RUNTIME"

// DefaultRuntime is the real runtime when neither says otherwise.
const DefaultRuntime = "runc"

// defaultPath is searched when the caller passed no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// fileConfig is ConfigFile's content.
type fileConfig struct {
	Runtime string `toml:"runtime"`
}

// realRuntime resolves the runtime to exec: RuntimeEnv, else the config
// file's runtime, else runc; a name is looked up in PATH. It is never tend
// itself (self): a PATH entry that is the same file (a symlink, a hard
// link, a copy named runc is not caught) is skipped; an explicit choice
// that is tend is an error.
func realRuntime(self string, getenv func(string) (string, bool), configFile string) (string, error) {
	name, from := DefaultRuntime, "default"
	if v, ok := getenv(RuntimeEnv); ok && v != "" {
		name, from = v, RuntimeEnv
	} else {
		c, err := readConfig(configFile)
		if err != nil {
			return "", err
		}
		if c.Runtime != "" {
			name, from = c.Runtime, configFile
		}
	}
	selfInfo, err := os.Stat(self)
	if err != nil {
		return "", fmt.Errorf("cannot stat tend's own executable: %v", err)
	}
	if strings.Contains(name, "/") {
		fi, err := os.Stat(name)
		switch {
		case err != nil:
			return "", fmt.Errorf("real OCI runtime %s (from %s): %v", name, from, unwrapPath(err))
		case os.SameFile(fi, selfInfo):
			return "", fmt.Errorf("real OCI runtime %s (from %s) is tend-runc itself; name the real runtime (runc, crun)", name, from)
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return "", fmt.Errorf("real OCI runtime %s (from %s) is not an executable file", name, from)
		}
		return name, nil
	}
	path, _ := getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	sawSelf := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		if os.SameFile(fi, selfInfo) {
			sawSelf = true
			continue
		}
		return p, nil
	}
	hint := ""
	if sawSelf {
		hint = " (only tend-runc itself is installed under that name)"
	}
	return "", fmt.Errorf("real OCI runtime %q (from %s) not found in PATH=%s%s; install it or set runtime = \"/path/to/runtime\" in %s", name, from, path, hint, configFile)
}

// readConfig reads the config file; a missing file is an empty config.
func readConfig(file string) (fileConfig, error) {
	var c fileConfig
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("%s: %v", file, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return c, fmt.Errorf("%s: %v", file, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
			return c, fmt.Errorf("%s: owned by uid %d; it chooses the program tend-runc runs as root, so it must be owned by root", file, st.Uid)
		}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return c, fmt.Errorf("%s: writable by group or others (mode %04o); chmod go-w it", file, fi.Mode().Perm())
	}
	if err := toml.NewDecoder(f).DisallowUnknownFields().Decode(&c); err != nil {
		var de *toml.DecodeError
		var se *toml.StrictMissingError
		switch {
		case errors.As(err, &se) && len(se.Errors) > 0:
			row, _ := se.Errors[0].Position()
			return c, fmt.Errorf("%s:%d: unknown key %s; the only key is runtime = \"NAME or /path\"", file, row, strings.Join(se.Errors[0].Key(), "."))
		case errors.As(err, &de):
			row, col := de.Position()
			return c, fmt.Errorf("%s:%d:%d: %v; want runtime = \"NAME or /path\"", file, row, col, de)
		}
		return c, fmt.Errorf("%s: %v", file, err)
	}
	return c, nil
}

// unwrapPath drops the "stat PATH:" prefix of a *PathError when the
// message names the path already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
