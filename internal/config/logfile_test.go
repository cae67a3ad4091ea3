package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestLogFile(t *testing.T) {
	svc := "[service.a]\ncommand = \"app\"\n" // lines 1-2; keys go on line 3
	tests := []struct {
		name, in string
		want     *LogFile // nil with wantErr
		wantLog  string
		wantErr  string
	}{
		{name: "defaults", in: svc + `log = { file = "/var/log/app/web.log" }`,
			want: &LogFile{Path: "/var/log/app/web.log", MaxSize: 50_000_000, MaxFiles: 5}},
		{name: "all keys", in: svc + `log = { file = "/var/log/app/web.log", max_size = "50MB", max_files = 3, stdout = true }`,
			want: &LogFile{Path: "/var/log/app/web.log", MaxSize: 50_000_000, MaxFiles: 3, Stdout: true}},
		{name: "binary size", in: svc + `log = { file = "/l", max_size = "64Mi" }`,
			want: &LogFile{Path: "/l", MaxSize: 64 << 20, MaxFiles: 5}},
		{name: "bytes as integer", in: svc + `log = { file = "/l", max_size = 1000 }`,
			want: &LogFile{Path: "/l", MaxSize: 1000, MaxFiles: 5}},
		{name: "no rotation", in: svc + `log = { file = "/l", max_size = 0 }`,
			want: &LogFile{Path: "/l", MaxSize: 0, MaxFiles: 5}},
		{name: "relative to the file", in: svc + `log = { file = "logs/web.log" }`,
			want: &LogFile{Path: "/etc/tend/logs/web.log", MaxSize: 50_000_000, MaxFiles: 5}},
		{name: "expanded", in: svc + `log = { file = "${HOME}/web.log" }`,
			want: &LogFile{Path: "/root/web.log", MaxSize: 50_000_000, MaxFiles: 5}},
		{name: "table form", in: svc + "[service.a.log]\nfile = \"/l\"\nmax_files = 1\n",
			want: &LogFile{Path: "/l", MaxSize: 50_000_000, MaxFiles: 1}},
		{name: "mode still a string", in: svc + `log = "inherit"`, wantLog: LogInherit},

		{name: "no file", in: svc + `log = { max_size = "1MB" }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.file: missing; accepted: a file path (the table form of log writes the service's lines to a file)`},
		{name: "empty file", in: svc + `log = { file = "" }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.file: empty; accepted: a file path`},
		{name: "file type", in: svc + `log = { file = 1 }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.file: expected a string: a file path, got an integer (1)`},
		{name: "bad size", in: svc + `log = { file = "/l", max_size = "ten" }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.max_size: invalid size "ten"; accepted: bytes as a whole number or a quantity such as "512Ki", "50MB", "1.5Gi", "1e6" (K, M, G, T, P, E = powers of 1000; Ki, Mi, Gi, Ti, Pi, Ei = powers of 1024; a B may follow)`},
		{name: "negative size", in: svc + `log = { file = "/l", max_size = -1 }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.max_size: negative size -1; accepted: bytes as a whole number`},
		{name: "size type", in: svc + `log = { file = "/l", max_size = true }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.max_size: expected a size: bytes as a whole number`},
		{name: "max_files zero", in: svc + `log = { file = "/l", max_files = 0 }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.max_files: 0 is out of range; accepted: a number of files 1-1000, the current one included`},
		{name: "max_files type", in: svc + `log = { file = "/l", max_files = "3" }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.max_files: expected a number of files 1-1000, the current one included, got a string ("3")`},
		{name: "stdout type", in: svc + `log = { file = "/l", stdout = "yes" }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.stdout: expected true or false, got a string ("yes")`},
		{name: "unknown key", in: svc + `log = { file = "/l", max_bytes = 1 }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.max_bytes: unknown key; accepted: file, max_files, max_size, stdout`},
		{name: "typo", in: svc + `log = { flie = "/l" }`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log.flie: unknown key (did you mean file?); accepted: file, max_files, max_size, stdout`},
		{name: "log type", in: svc + `log = 1`,
			wantErr: `/etc/tend/tend.toml:3: service.a.log: expected "prefixed", "inherit", or a table { file = PATH, max_size = SIZE, max_files = N, stdout = BOOL }, got an integer (1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/tend/tend.toml", []byte(tt.in+"\n"), env("HOME", "/root"))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error; want %s", tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("error\n got %s\nwant %s", err, tt.wantErr)
				}
				var ce *Error
				if !errors.As(err, &ce) {
					t.Errorf("error is %T, not *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := c.Services[0]
			if !reflect.DeepEqual(s.LogFile, tt.want) || s.Log != tt.wantLog {
				t.Errorf("LogFile = %+v, Log = %q; want %+v, %q", s.LogFile, s.Log, tt.want, tt.wantLog)
			}
			// The plan shows it and reads back the same.
			plan := c.Plan()
			if tt.want != nil && !strings.Contains(plan, "log = { file = ") {
				t.Errorf("plan lacks the log file:\n%s", plan)
			}
			back, err := Parse("/etc/tend/plan.toml", []byte(plan), env())
			if err != nil {
				t.Fatalf("plan does not parse: %v\n%s", err, plan)
			}
			if !back.Services[0].SameAs(s) {
				t.Errorf("plan round trip: %+v, want %+v", back.Services[0].LogFile, s.LogFile)
			}
		})
	}
}
