package ociruntime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tend-sh/tend/internal/inject"
)

// TendPath is where tend is bind-mounted inside the container (the policy's,
// internal/inject).
const TendPath = inject.TendPath

// The annotations tend-runc reads: the policy's (internal/inject).
const (
	AnnotationPrefix = inject.AnnotationPrefix
	AnnotationInject = inject.AnnotationInject
)

// Annotations lists every tend.sh/ annotation tend-runc accepts:
// tend.sh/inject and tend.sh/<option> for each long option of tend's.
func Annotations() []string { return inject.Annotations() }

// rewriteBundle rewrites bundle/config.json in place (atomically, same
// mode and owner) when the injection policy (internal/inject) says so.
func rewriteBundle(bundle, self string, debug func(format string, a ...any)) error {
	file := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read the bundle's config.json: %v", err)
	}
	fi, err := os.Stat(self)
	if err != nil {
		return fmt.Errorf("cannot stat tend's own executable: %v", err)
	}
	out, why, err := rewrite(data, self, fi.Mode())
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	if why != "" {
		debug("%s: left alone: %s", file, why)
		return nil
	}
	if err := writeAtomic(file, out); err != nil {
		return err
	}
	debug("%s: tend injected at %s (from %s)", file, TendPath, self)
	return nil
}

// Rewrite applies tend's injection policy (internal/inject) to an OCI
// runtime config: when it says inject, a bind mount of self at TendPath,
// process.args = [TendPath, "--", args...] and the variables it adds
// (tend.sh/<option> annotations as TEND_*, the platform's grace) appended
// to process.env. Every other field, known or not, is kept byte for byte.
// It reports changed=false (and returns data) when the policy leaves the
// container alone: tend.sh/inject is "false", the container is a
// Kubernetes pod sandbox, the command is already an init (inject.Inits),
// tend is injected already, or there is no process to run (the runtime
// reports that itself). self must exist: its mode decides whether a
// non-root user can execute it.
func Rewrite(data []byte, self string) (out []byte, changed bool, err error) {
	fi, err := os.Stat(self)
	if err != nil {
		return nil, false, fmt.Errorf("cannot stat tend's own executable: %v", err)
	}
	out, why, err := rewrite(data, self, fi.Mode())
	return out, err == nil && why == "", err
}

// rewrite is Rewrite that says why it left data alone (why != ""), with
// self's mode given.
func rewrite(data []byte, self string, mode fs.FileMode) (out []byte, why string, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, "", jsonError(data, err)
	}
	c := inject.Container{Tend: self, TendMode: mode}
	if raw, ok := top["annotations"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &c.Annotations); err != nil {
			return nil, "", fmt.Errorf("annotations: %v; want an object of strings", err)
		}
	}
	var proc map[string]json.RawMessage
	if raw, ok := top["process"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &proc); err != nil {
			return nil, "", fmt.Errorf("process: %v", err)
		}
	}
	if raw, ok := proc["args"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &c.Args); err != nil {
			return nil, "", fmt.Errorf("process.args: %v; want an array of strings", err)
		}
	}
	var mounts []json.RawMessage
	if raw, ok := top["mounts"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &mounts); err != nil {
			return nil, "", fmt.Errorf("mounts: %v; want an array", err)
		}
	}
	for _, m := range mounts {
		var d struct {
			Destination string `json:"destination"`
		}
		if json.Unmarshal(m, &d) == nil {
			c.Mounts = append(c.Mounts, d.Destination)
		}
	}
	if raw, ok := proc["env"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &c.Env); err != nil {
			return nil, "", fmt.Errorf("process.env: %v; want an array of strings", err)
		}
	}
	var user struct {
		Process struct {
			User struct {
				UID uint32 `json:"uid"`
			} `json:"user"`
		} `json:"process"`
		Linux struct {
			UIDMappings []json.RawMessage `json:"uidMappings"`
		} `json:"linux"`
	}
	if json.Unmarshal(data, &user) == nil { // a malformed field is the runtime's to report
		c.UID, c.UserNamespace = user.Process.User.UID, len(user.Linux.UIDMappings) > 0
	}
	plan, err := inject.Decide(c)
	if err != nil {
		return nil, "", err
	}
	if plan.Skip != "" {
		return data, plan.Skip, nil
	}
	if plan.Args != nil {
		proc["args"] = mustJSON(plan.Args)
	}
	if len(plan.Env) > 0 {
		proc["env"] = mustJSON(append(c.Env[:len(c.Env):len(c.Env)], plan.Env...))
	}
	if plan.Mount != nil {
		mounts = append(mounts, mustJSON(struct {
			Destination string   `json:"destination"`
			Type        string   `json:"type"`
			Source      string   `json:"source"`
			Options     []string `json:"options"`
		}{plan.Mount.Destination, plan.Mount.Type, plan.Mount.Source, plan.Mount.Options}))
		top["mounts"] = mustJSON(mounts)
	}
	top["process"] = mustJSON(proc)
	return mustJSON(top), "", nil
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
