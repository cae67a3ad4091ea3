// Package ociruntime is tend-runc: an OCI runtime wrapper that gives every
// container tend as PID 1 with no image change. Installed as a symlink named
// tend-runc to the tend binary, it is what containerd's runc shim, dockerd
// or CRI-O call instead of runc. It passes the command line to the real
// runtime (runc by default) untouched and, for `create` and `run` only,
// first rewrites the bundle's config.json as the injection policy
// (internal/inject, shared with tend-nri) decides: tend's own executable is
// bind-mounted read-only at TendPath and process.args becomes
// [TendPath, "--", original args...]; tend.sh/<option> annotations become
// the options' TEND_* variables. This package owns only the transport: the
// runtime's command line, the lookup of the real runtime, logging, the
// JSON patch and the atomic write. Every other command is exec'd straight
// through. Errors are written where the caller reads them: runc's --log
// file in its --log-format, and stderr.
package ociruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ExitError is tend-runc's exit code when it fails before exec'ing the real
// runtime (the code runc itself uses for every error).
const ExitError = 1

// Main is tend-runc. args is the whole command line (os.Args). On success
// it does not return: the process becomes the real runtime.
func Main(args []string) int {
	cl := parseArgs(args[1:])
	lg := logger{path: cl.log, format: cl.logFormat}
	self, err := selfPath()
	if err != nil {
		lg.error(err.Error())
		return ExitError
	}
	real, err := realRuntime(self, os.LookupEnv, ConfigFile)
	if err != nil {
		lg.error(err.Error())
		return ExitError
	}
	if cl.command == "create" || cl.command == "run" {
		if err := rewriteBundle(cl.bundle, self, lg.debugf(cl.debug)); err != nil {
			lg.error(err.Error())
			return ExitError
		}
	}
	argv := append([]string{real}, args[1:]...)
	err = syscall.Exec(real, argv, os.Environ())
	lg.error(fmt.Sprintf("exec real runtime %s: %v", real, err))
	return ExitError
}

// cmdline is what tend-runc needs from the runtime's command line.
type cmdline struct {
	log, logFormat string // global --log, --log-format
	debug          bool   // global --debug
	command        string // "" when none (runc --version, runc --help)
	bundle         string // create/run: --bundle/-b, default "."
}

// Global flags of runc (1.1) and crun that take a value; every other flag
// before the command is a boolean (--debug, --systemd-cgroup, ...).
var globalValueFlags = map[string]bool{
	"log": true, "log-format": true, "root": true, "criu": true, "rootless": true,
	"cgroup-manager": true,
}

// Flags of create and run that take a value.
var commandValueFlags = map[string]bool{
	"bundle": true, "b": true, "console-socket": true, "pid-file": true, "preserve-fds": true,
}

// parseArgs finds the global flags tend-runc uses, the command and, for
// create and run, the bundle. It follows the flag syntax runc accepts:
// -flag or --flag, a value as the next argument or after "=".
func parseArgs(args []string) cmdline {
	cl := cmdline{logFormat: "text", bundle: "."}
	i := 0
	for ; i < len(args); i++ {
		name, val, hasVal, ok := flagName(args[i])
		if !ok {
			break
		}
		if name == "" { // "--": the command follows
			i++
			break
		}
		if globalValueFlags[name] && !hasVal && i+1 < len(args) {
			i++
			val, hasVal = args[i], true
		}
		switch name {
		case "debug":
			cl.debug = !hasVal || val == "true"
		case "log":
			cl.log = val
		case "log-format":
			cl.logFormat = val
		}
	}
	if i >= len(args) {
		return cl
	}
	cl.command = args[i]
	if cl.command != "create" && cl.command != "run" {
		return cl
	}
	for j := i + 1; j < len(args); j++ {
		name, val, hasVal, ok := flagName(args[j])
		if !ok {
			continue // the container ID
		}
		if name == "" {
			break
		}
		if commandValueFlags[name] && !hasVal && j+1 < len(args) {
			j++
			val = args[j]
		}
		if name == "bundle" || name == "b" {
			cl.bundle = val
		}
	}
	return cl
}

// flagName splits "-name", "--name" or "--name=value". ok is false for an
// argument that is not a flag; name is "" for "--".
func flagName(a string) (name, val string, hasVal, ok bool) {
	if a == "--" {
		return "", "", false, true
	}
	if len(a) < 2 || a[0] != '-' {
		return "", "", false, false
	}
	a = strings.TrimPrefix(a[1:], "-")
	name, val, hasVal = strings.Cut(a, "=")
	return name, val, hasVal, true
}

// selfPath is the real path of the running executable: what is
// bind-mounted into containers and what the real runtime must never be.
func selfPath() (string, error) {
	p, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("cannot resolve tend's own executable: %v", err)
	}
	if strings.HasSuffix(p, " (deleted)") {
		return "", errors.New("tend's own executable " + p + ": it was replaced on disk; run the new one")
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p, nil
}
