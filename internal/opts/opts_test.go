package opts

import (
	"errors"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/tend-sh/tend/internal/signals"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  func(string) (string, bool)
		want func(o *Options)
	}{
		{"defaults", []string{"--", "app"}, env(), func(o *Options) { o.Command = []string{"app"} }},
		{"command without --", []string{"app", "--grace", "1s"}, env(), func(o *Options) { o.Command = []string{"app", "--grace", "1s"} }},
		{"flags", []string{"--grace", "3s", "--forward=child", "--hold", "--user", "app:staff", "-v", "--pre-stop", "drain now", "--", "x"}, env(), func(o *Options) {
			o.Grace, o.Forward, o.Hold, o.User, o.Verbose, o.PreStop, o.Command = 3*time.Second, ForwardChild, true, "app:staff", 1, "drain now", []string{"x"}
			o.GraceSet = true
		}},
		{"config", []string{"-c", "t.toml", "--", "x"}, env(), func(o *Options) { o.Config, o.Configs, o.Command = "t.toml", []string{"t.toml"}, []string{"x"} }},
		{"config repeated, crontab", []string{"-c", "base.toml", "--config=conf.d", "--crontab", "crontab"}, env("TEND_CONFIG", "env.toml", "TEND_CRONTAB", "env crontab"), func(o *Options) {
			o.Config, o.Configs, o.Crontabs = "base.toml", []string{"base.toml", "conf.d"}, []string{"crontab"}
		}},
		{"config and crontab from env", nil, env("TEND_CONFIG", "my dir", "TEND_CRONTAB", "a,b"), func(o *Options) {
			o.Config, o.Configs, o.Crontabs = "my dir", []string{"my dir"}, []string{"a,b"}
		}},
		{"procfile env", nil, env("TEND_PROCFILE", "Procfile"), func(o *Options) { o.Procfile = "Procfile" }},
		{"TEND_VERBOSE=2", []string{"x"}, env("TEND_VERBOSE", "2"), func(o *Options) { o.Verbose, o.Command = 2, []string{"x"} }},
		{"-vv", []string{"-vv", "x"}, env(), func(o *Options) { o.Verbose, o.Command = 2, []string{"x"} }},
		{"rewrite and remap repeat", []string{"--rewrite", "TERM:QUIT", "--rewrite=USR1:0", "--remap-exit", "143:0", "--remap-exit", "137:1", "x"}, env(), func(o *Options) {
			o.Rewrite = signals.Rewrite{syscall.SIGTERM: syscall.SIGQUIT, syscall.SIGUSR1: 0}
			o.RemapExit = map[int]int{143: 0, 137: 1}
			o.Command = []string{"x"}
		}},
		{"env twins", []string{"x"}, env("TEND_GRACE", "500ms", "TEND_HOLD", "1", "TEND_FORWARD", "child", "TEND_REWRITE", "TERM:QUIT, 10:12", "TEND_REMAP_EXIT", "143:0", "TEND_USER", "65534", "TEND_PRE_STOP", "p", "TEND_VERBOSE", "true"), func(o *Options) {
			o.Grace, o.Hold, o.Forward, o.User, o.PreStop, o.Verbose = 500*time.Millisecond, true, ForwardChild, "65534", "p", 1
			o.GraceSet = true
			o.Rewrite = signals.Rewrite{syscall.SIGTERM: syscall.SIGQUIT, syscall.SIGUSR1: syscall.SIGUSR2}
			o.RemapExit = map[int]int{143: 0}
			o.Command = []string{"x"}
		}},
		{"flag wins over env", []string{"--grace", "2s", "--hold=false", "--rewrite", "INT:TERM", "x"}, env("TEND_GRACE", "9s", "TEND_HOLD", "1", "TEND_REWRITE", "TERM:QUIT"), func(o *Options) {
			o.Grace, o.GraceSet, o.Command = 2*time.Second, true, []string{"x"}
			o.Rewrite = signals.Rewrite{syscall.SIGINT: syscall.SIGTERM}
		}},
		{"empty env is unset", []string{"x"}, env("TEND_GRACE", ""), func(o *Options) { o.Command = []string{"x"} }},
		{"grace platform", []string{"x"}, env("TEND_GRACE", "platform"), func(o *Options) {
			o.Grace, o.GraceSet, o.GracePlatform, o.Command = 10*time.Second, true, true, []string{"x"}
		}},
		{"a duration flag wins over grace platform", []string{"--grace", "4s", "x"}, env("TEND_GRACE", "platform"), func(o *Options) {
			o.Grace, o.GraceSet, o.Command = 4*time.Second, true, []string{"x"}
		}},
		{"tini's flags", []string{"-s", "-g", "-e", "143", "-e3", "-p", "SIGKILL", "-w", "--", "x"}, env(), func(o *Options) {
			o.Subreaper, o.WarnReaped, o.Pdeathsig, o.Command = true, true, syscall.SIGKILL, []string{"x"}
			o.RemapExit = map[int]int{143: 0, 3: 0}
		}},
		{"-g after --forward child", []string{"--forward", "child", "-g", "x"}, env(), func(o *Options) { o.Command = []string{"x"} }},
		{"-e beside --remap-exit", []string{"--remap-exit", "1:2", "-e", "3", "x"}, env(), func(o *Options) { o.RemapExit, o.Command = map[int]int{1: 2, 3: 0}, []string{"x"} }},
		{"grouped", []string{"-sgw", "-gse", "7", "-vp15", "x"}, env(), func(o *Options) {
			o.Subreaper, o.WarnReaped, o.Verbose, o.Pdeathsig, o.Command = true, true, 1, syscall.SIGTERM, []string{"x"}
			o.RemapExit = map[int]int{7: 0}
		}},
		{"-p by number", []string{"-p", "15", "x"}, env(), func(o *Options) { o.Pdeathsig, o.Command = syscall.SIGTERM, []string{"x"} }},
		{"-c is still tend's config", []string{"-c", "t.toml"}, env(), func(o *Options) { o.Config, o.Configs = "t.toml", []string{"t.toml"} }},
		{"help", []string{"--help", "--bogus"}, env(), func(o *Options) { o.Help = true }},
		{"version", []string{"--version"}, env(), func(o *Options) { o.Version = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  func(string) (string, bool)
		want string
	}{
		{[]string{"--bogus", "x"}, env(), "unknown flag --bogus"},
		{[]string{"-c", "a", "-f", "b"}, env(), "--config and --procfile cannot be used together"},
		{[]string{"-f", "Procfile", "--", "x"}, env(), "--procfile runs the Procfile's processes; it takes no command"},
		{[]string{"-x"}, env(), "unknown flag -x"},
		{[]string{"--grace"}, env(), "flag --grace needs a value: DURATION|platform"},
		{[]string{"--grace", "ten", "x"}, env(), `invalid --grace "ten": not a duration; want DURATION|platform`},
		{[]string{"--grace", "-1s", "x"}, env(), `invalid --grace "-1s": must be positive; want DURATION|platform`},
		{[]string{"x"}, env("TEND_GRACE", "ten"), `invalid TEND_GRACE="ten": not a duration; want DURATION|platform`},
		{[]string{"x"}, env("TEND_HOLD", "maybe"), `invalid TEND_HOLD="maybe": not a boolean; want 1|0|true|false`},
		{[]string{"x"}, env("TEND_VERBOSE", "9"), `invalid TEND_VERBOSE="9": not a boolean; want 1|0|true|false|2`},
		{[]string{"--forward", "all", "x"}, env(), `invalid --forward "all": unknown mode; want group|child`},
		{[]string{"--rewrite", "TERM", "x"}, env(), `invalid --rewrite "TERM": "TERM" is not FROM:TO (e.g. TERM:QUIT, or USR1:0 to drop); want FROM:TO`},
		{[]string{"--rewrite", "FOO:TERM", "x"}, env(), `invalid --rewrite "FOO:TERM": unknown signal "FOO" (want a name such as TERM or SIGTERM, or a number 1-64); want FROM:TO`},
		{[]string{"--rewrite", "KILL:TERM", "x"}, env(), `invalid --rewrite "KILL:TERM": SIGKILL is never forwarded, so it cannot be rewritten; want FROM:TO`},
		{[]string{"--rewrite", "TERM:99", "x"}, env(), `invalid --rewrite "TERM:99": signal number 99 out of range 1-64; want FROM:TO`},
		{[]string{"--remap-exit", "143", "x"}, env(), `invalid --remap-exit "143": missing ':'; want FROM:TO`},
		{[]string{"--remap-exit", "300:0", "x"}, env(), `invalid --remap-exit "300:0": "300" is not an exit code 0-255; want FROM:TO`},
		{[]string{"-e"}, env(), "flag -e needs a value: CODE"},
		{[]string{"-e", "256", "x"}, env(), `invalid -e "256": "256" is not an exit code 0-255; want CODE`},
		{[]string{"-e", "3:5", "x"}, env(), `invalid -e "3:5": "3:5" is not an exit code 0-255; want CODE`},
		{[]string{"-p", "SIGFOO", "x"}, env(), `invalid -p "SIGFOO": unknown signal "SIGFOO" (want a name such as TERM or SIGTERM, or a number 1-64); want SIGNAL`},
		{[]string{"-p"}, env(), "flag -p needs a value: SIGNAL"},
		{[]string{"--s", "x"}, env(), "unknown flag --s"},
		{[]string{"-l", "x"}, env(), "unknown flag -l"},
		{[]string{"-sx", "x"}, env(), "unknown flag -x in -sx"},
		{[]string{"-se"}, env(), "flag -e needs a value: CODE"},
		{[]string{"-se300", "x"}, env(), `invalid -e "300": "300" is not an exit code 0-255; want CODE`},
		{[]string{"x"}, env("TEND_REMAP_EXIT", "1:2,x:3"), `invalid TEND_REMAP_EXIT="1:2,x:3": "x" is not an exit code 0-255; want FROM:TO`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Parse(tt.args, tt.env)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error %q", tt.args, tt.want)
			}
			if !errors.Is(err, ErrUsage) {
				t.Errorf("error %v is not a usage error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// An empty user — --user "$APP_USER" or TEND_USER=$APP_USER with the
// variable unset — is an error, never "run as tend's own user" (root).
func TestEmptyUser(t *testing.T) {
	const msg = "empty (an unset variable?); tend never falls back to running as its own user; want USER[:GROUP]"
	tests := []struct {
		args []string
		env  func(string) (string, bool)
		want string
	}{
		{[]string{"--user", "", "id"}, env(), `invalid --user "": ` + msg},
		{[]string{"--user=", "id"}, env(), `invalid --user "": ` + msg},
		{[]string{"id"}, env("TEND_USER", ""), `invalid TEND_USER="": ` + msg},
		{[]string{"--user", "app", "id"}, env("TEND_USER", ""), `invalid TEND_USER="": ` + msg},
		{[]string{"-c", "tend.toml", "--user", ""}, env(), `invalid --user "": ` + msg},
	}
	for _, tt := range tests {
		o, err := Parse(tt.args, tt.env)
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrUsage) {
			t.Errorf("Parse(%q) = %+v, %v; want usage error %q", tt.args, o, err, tt.want)
		}
	}
}
