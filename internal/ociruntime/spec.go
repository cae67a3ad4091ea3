package ociruntime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/tend-sh/tend/internal/opts"
)

// TendPath is where tend is bind-mounted inside the container. Under /dev
// because /dev is the tmpfs every runtime mounts (Docker, containerd,
// CRI-O, `runc spec`): runc creates the mount point in that tmpfs, so
// nothing is written to the image's root filesystem and a read-only or
// truly unwritable rootfs works. The last element is "tend", so
// /proc/1/comm reads tend.
const TendPath = "/dev/.tend/tend"

// Annotations that tend-runc reads. Every other tend.sh/<option> is an
// option of tend (internal/opts) set through its TEND_* variable.
const (
	AnnotationPrefix = "tend.sh/"
	AnnotationInject = AnnotationPrefix + "inject"
)

// Inits are the basenames of commands left alone: they are an init or a
// supervisor that wants to be PID 1 already. s6-overlay's is "/init" (and
// systemd's /sbin/init): any command whose basename is "init". "pause" is
// the Kubernetes sandbox's process, a reaping init of its own.
var Inits = []string{
	"catatonit", "docker-init", "dumb-init", "init", "pause", "runsvdir", "s6-svscan",
	"supervisord", "systemd", "tend", "tini", "tini-static",
}

// sandboxAnnotations mark a Kubernetes pod sandbox (the pause container
// holding the pod's namespaces), which is left alone: containerd's CRI
// plugin and CRI-O set them on every container they create.
var sandboxAnnotations = map[string]string{
	"io.kubernetes.cri.container-type":  "sandbox",
	"io.kubernetes.cri-o.ContainerType": "sandbox",
}

// mountOptions of tend's bind mount: read-only, no set-uid, no devices.
var mountOptions = []string{"bind", "ro", "nosuid", "nodev"}

// rewriteBundle rewrites bundle/config.json in place (atomically, same
// mode and owner) when Rewrite changes it.
func rewriteBundle(bundle, self string, debug func(format string, a ...any)) error {
	file := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read the bundle's config.json: %v", err)
	}
	out, why, err := rewrite(data, self)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	if why != "" {
		debug("%s: left alone: %s", file, why)
		return nil
	}
	if err := checkUser(data, self); err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	if err := writeAtomic(file, out); err != nil {
		return err
	}
	debug("%s: tend injected at %s (from %s)", file, TendPath, self)
	return nil
}

// Rewrite injects tend into an OCI runtime config: a bind mount of self at
// TendPath and process.args = [TendPath, "--", args...], plus the
// tend.sh/<option> annotations as TEND_* variables in process.env. Every
// other field, known or not, is kept. It reports changed=false (and returns
// data) when there is nothing to do: tend.sh/inject is "false", the
// container is a Kubernetes pod sandbox, the command is already an init
// (Inits), tend is already injected, or there is no process to run (the
// runtime reports that itself).
func Rewrite(data []byte, self string) (out []byte, changed bool, err error) {
	out, why, err := rewrite(data, self)
	return out, err == nil && why == "", err
}

// rewrite is Rewrite that says why it left data alone (why != "").
func rewrite(data []byte, self string) (out []byte, why string, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, "", jsonError(data, err)
	}
	var ann map[string]string
	if raw, ok := top["annotations"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &ann); err != nil {
			return nil, "", fmt.Errorf("annotations: %v; want an object of strings", err)
		}
	}
	if v, ok := ann[AnnotationInject]; ok {
		switch v {
		case "false":
			return data, AnnotationInject + " is \"false\"", nil
		case "true":
		default:
			return nil, "", fmt.Errorf("invalid annotation %s=%q; want \"true\" or \"false\"", AnnotationInject, v)
		}
	}
	for k, v := range sandboxAnnotations {
		if ann[k] == v {
			return data, "a Kubernetes pod sandbox (" + k + ")", nil
		}
	}
	rawProc, ok := top["process"]
	if !ok || isNull(rawProc) {
		return data, "no process", nil
	}
	var proc map[string]json.RawMessage
	if err := json.Unmarshal(rawProc, &proc); err != nil {
		return nil, "", fmt.Errorf("process: %v", err)
	}
	var args []string
	if raw, ok := proc["args"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &args); err != nil {
			return nil, "", fmt.Errorf("process.args: %v; want an array of strings", err)
		}
	}
	var mounts []json.RawMessage
	if raw, ok := top["mounts"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &mounts); err != nil {
			return nil, "", fmt.Errorf("mounts: %v; want an array", err)
		}
	}
	if len(args) == 0 {
		return data, "no process.args", nil
	}
	injected := args[0] == TendPath
	if !injected && isInit(args[0]) {
		return data, "the command " + args[0] + " is an init", nil
	}
	hasMount := false
	for _, m := range mounts {
		var d struct {
			Destination string `json:"destination"`
		}
		if json.Unmarshal(m, &d) == nil && path.Clean(d.Destination) == TendPath {
			hasMount = true
		}
	}
	var env []string
	if raw, ok := proc["env"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, "", fmt.Errorf("process.env: %v; want an array of strings", err)
		}
	}
	newEnv, err := annotationEnv(ann, env)
	if err != nil {
		return nil, "", err
	}
	if injected && hasMount && len(newEnv) == len(env) {
		return data, "tend is injected already", nil
	}
	if !injected {
		proc["args"] = mustJSON(append([]string{TendPath, "--"}, args...))
	}
	if len(newEnv) != len(env) {
		proc["env"] = mustJSON(newEnv)
	}
	if !hasMount {
		mounts = append(mounts, mustJSON(struct {
			Destination string   `json:"destination"`
			Type        string   `json:"type"`
			Source      string   `json:"source"`
			Options     []string `json:"options"`
		}{TendPath, "bind", self, mountOptions}))
		top["mounts"] = mustJSON(mounts)
	}
	top["process"] = mustJSON(proc)
	return mustJSON(top), "", nil
}

// Annotations lists every tend.sh/ annotation tend-runc accepts:
// tend.sh/inject and tend.sh/<option> for each long option of tend's.
func Annotations() []string {
	out := []string{AnnotationInject}
	for _, n := range optionNames() {
		out = append(out, AnnotationPrefix+n)
	}
	return out
}

// optionNames are tend's long option names, in --help order (tini's
// one-letter flags have none).
func optionNames() []string {
	var out []string
	for _, n := range opts.Names() {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// annotationEnv adds TEND_X=value for every tend.sh/x annotation whose
// variable env does not set already, checked by tend's own option parser;
// then the resulting TEND_* set is checked as tend will read it.
func annotationEnv(ann map[string]string, env []string) ([]string, error) {
	set := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	keys := make([]string, 0, len(ann))
	for k := range ann {
		if strings.HasPrefix(k, AnnotationPrefix) && k != AnnotationInject {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := env
	for _, k := range keys {
		name, v := strings.TrimPrefix(k, AnnotationPrefix), ann[k]
		twin, ok := opts.Twin(name)
		if !ok {
			return nil, fmt.Errorf("unknown annotation %s; tend's are %sinject and %s<option> for the options %s", k, AnnotationPrefix, AnnotationPrefix, strings.Join(optionNames(), ", "))
		}
		if err := opts.CheckTwin(name, v); err != nil {
			return nil, fmt.Errorf("invalid annotation %s=%q: %v", k, v, err)
		}
		if _, ok := set[twin]; ok {
			continue // the container's own environment wins
		}
		set[twin] = v
		out = append(out[:len(out):len(out)], twin+"="+v)
	}
	if len(keys) > 0 {
		if _, err := opts.Parse(nil, func(k string) (string, bool) { v, ok := set[k]; return v, ok }); err != nil {
			return nil, fmt.Errorf("annotations %s* with the container's environment: %v", AnnotationPrefix, err)
		}
	}
	return out, nil
}

func isInit(arg0 string) bool {
	base := path.Base(arg0)
	for _, n := range Inits {
		if base == n {
			return true
		}
	}
	return false
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// mustJSON marshals values that cannot fail (strings, raw messages),
// without HTML escaping, so kept strings stay as they were written.
func mustJSON(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("ociruntime: " + err.Error()) // unreachable: only strings and valid raw JSON
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// jsonError says where config.json is malformed, as line:column.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return fmt.Errorf("malformed JSON: %v", err)
	}
	// Offset counts the bytes read, the offending one included.
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off > 0 {
		off--
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("line %d column %d: malformed JSON: %v", line, col, err)
}

// checkUser refuses a non-root process.user that could not execute tend
// (a binary not executable by others), rather than a container that fails
// with "permission denied".
func checkUser(data []byte, self string) error {
	var spec struct {
		Process struct {
			User struct {
				UID uint32 `json:"uid"`
			} `json:"user"`
		} `json:"process"`
		Linux struct {
			UIDMappings []json.RawMessage `json:"uidMappings"`
		} `json:"linux"`
	}
	if json.Unmarshal(data, &spec) != nil {
		return nil
	}
	who := ""
	switch {
	case len(spec.Linux.UIDMappings) > 0:
		who = "the container's user namespace (linux.uidMappings)"
	case spec.Process.User.UID != 0:
		who = fmt.Sprintf("process.user.uid %d", spec.Process.User.UID)
	default:
		return nil
	}
	fi, err := os.Stat(self)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o005 != 0o005 {
		return fmt.Errorf("%s cannot execute tend (%s, mode %04o); chmod a+rx it", who, self, fi.Mode().Perm())
	}
	return nil
}

// writeAtomic replaces file with data: a temporary file in the same
// directory with the old file's mode and owner, renamed over it.
func writeAtomic(file string, data []byte) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".config.json.tend-*")
	if err != nil {
		return fmt.Errorf("cannot rewrite %s: %v", file, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("cannot rewrite %s: %v", file, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return fail(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("cannot rewrite %s: %v", file, err)
	}
	if err := os.Rename(name, file); err != nil {
		os.Remove(name)
		return fmt.Errorf("cannot rewrite %s: %v", file, err)
	}
	return nil
}
