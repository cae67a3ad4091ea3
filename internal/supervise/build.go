package supervise

import (
	"strings"
	"syscall"
	"time"

	"github.com/tend-sh/tend/internal/config"
	"github.com/tend-sh/tend/internal/schedule"
	"github.com/tend-sh/tend/internal/spawn"
	"github.com/tend-sh/tend/internal/sysuser"
)

// MainName is the name of the service made from the command line.
const MainName = "main"

// Main is the service made from `tend [options] -- CMD ARGS...`: it keeps
// tend's stdio and terminal, is never restarted, and its exit decides the
// container's fate. after lists the services it waits for (all of a config
// file's, as s6-overlay's CMD does).
func Main(argv, env []string, cred *syscall.Credential, after []string) *Service {
	return &Service{
		Service: &config.Service{
			Name:         MainName,
			Command:      argv,
			After:        after,
			Restart:      config.RestartNever,
			SuccessCodes: []int{0},
			Critical:     true,
			StopSignal:   syscall.SIGTERM,
			Log:          config.LogInherit,
		},
		Spec: spawn.Spec{Argv: argv, Env: env, Cred: cred},
		Main: true,
	}
}

// Identity resolves a --user or user = value into credentials and sets
// HOME in env accordingly.
func Identity(spec string, env []string) (*syscall.Credential, []string, error) {
	id, err := sysuser.Lookup(spec)
	if err != nil {
		return nil, env, err
	}
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}, SetEnv(env, "HOME", id.Home), nil
}

// FromConfig turns a loaded configuration into services. base is tend's
// own environment, under each service's env_file and env.
func FromConfig(c *config.Config, base []string) ([]*Service, error) {
	out := make([]*Service, 0, len(c.Services))
	for _, cs := range c.Services {
		env := append([]string(nil), base...)
		for _, kv := range cs.Env {
			k, v, _ := strings.Cut(kv, "=")
			env = SetEnv(env, k, v)
		}
		var cred *syscall.Credential
		file := cs.File
		if file == "" {
			file = c.File
		}
		if cs.User != "" {
			var err error
			if cred, env, err = Identity(cs.User, env); err != nil {
				line := cs.UserLine
				if line == 0 {
					line = cs.Line
				}
				return nil, &config.Error{File: file, Line: line, Key: "service." + cs.Name + ".user", Msg: err.Error()}
			}
		}
		job, err := jobOf(cs)
		if err != nil {
			return nil, &config.Error{File: file, Line: cs.Line, Key: "service." + cs.Name + ".schedule", Msg: err.Error()}
		}
		out = append(out, &Service{
			Service: cs,
			Spec:    spawn.Spec{Argv: cs.Command, Env: env, Dir: cs.Workdir, Cred: cred},
			Job:     job,
		})
	}
	return out, nil
}

// jobOf parses a job's schedule (validated by config already; the zone is
// cached, so this reads no file again), or returns nil for a service.
func jobOf(cs *config.Service) (*Job, error) {
	if !cs.IsJob() {
		return nil, nil
	}
	loc, err := schedule.LoadLocation(cs.Timezone)
	if err != nil {
		return nil, err
	}
	sched, err := schedule.Parse(cs.Schedule, loc, time.Now())
	if err != nil {
		return nil, err
	}
	return &Job{Schedule: sched}, nil
}

// Names lists the services' names.
func Names(svcs []*Service) []string {
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = s.Name
	}
	return names
}

// SetEnv returns env with key set to val, replacing an earlier value.
func SetEnv(env []string, key, val string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); ok && k == key {
			continue
		}
		out = append(out, kv)
	}
	return append(out, key+"="+val)
}
