package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// checkErr asserts the error contract: a *Error naming a line, or a
// file-level *Error (Line 0) naming the file.
func checkErr(t *testing.T, in string, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("%q: error %T is not *Error: %v", in, err, err)
	}
	if ce.Line < 0 || (ce.Line == 0 && ce.File == "") || ce.Msg == "" {
		t.Fatalf("%q: error without a position or message: %#v", in, ce)
	}
	if ce.Line > strings.Count(in, "\n")+1 && ce.File == "tend.toml" {
		t.Fatalf("%q: error line %d beyond the input", in, ce.Line)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.toml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("[service.a]\ncommand = \"x\"\nafter = [\"a\"]\n")
	f.Add("service.a = { command = [\"x\"], ready = { fd = 3 } }\n")
	getenv := env("HOME", "/root", "EMPTY", "")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse("tend.toml", []byte(in), getenv)
		if err != nil {
			checkErr(t, in, err)
			return
		}
		if len(c.Services) == 0 {
			t.Fatalf("%q: no services and no error", in)
		}
		_ = c.StartOrder()
		if strings.Contains(in, "env_file") {
			return // Plan folds the file into env; its contents need not be valid TOML text
		}
		plan := c.Plan()
		back, err := Parse("tend.toml", []byte(plan), getenv)
		if err != nil {
			t.Fatalf("%q: plan does not parse: %v\n%s", in, err, plan)
		}
		if a, r, ch := Diff(c, back); a != nil || r != nil || ch != nil {
			t.Fatalf("%q: plan round trip differs: %q %q %q\n%s", in, a, r, ch, plan)
		}
	})
}

func FuzzProcfile(f *testing.F) {
	f.Add("web: bundle exec puma -p ${PORT:-5000}\nworker: ./w 'a b'\n")
	f.Add("# c\n\nx:y\n")
	getenv := env("PORT", "80")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := parseProcfile("Procfile", []byte(in), []string{"A=1"}, getenv)
		if err != nil {
			checkErr(t, in, err)
			return
		}
		if len(c.Services) == 0 {
			t.Fatalf("%q: no services and no error", in)
		}
		back, err := Parse("tend.toml", []byte(c.Plan()), getenv)
		if err != nil {
			t.Fatalf("%q: plan does not parse: %v\n%s", in, err, c.Plan())
		}
		if a, r, ch := Diff(c, back); a != nil || r != nil || ch != nil {
			t.Fatalf("%q: plan round trip differs: %q %q %q\n%s", in, a, r, ch, c.Plan())
		}
	})
}
