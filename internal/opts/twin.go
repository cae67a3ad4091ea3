package opts

import "fmt"

// setEnv applies v, the value of the option's environment variable: a
// repeatable option's variable holds a list (comma or space separated).
func (opt *option) setEnv(o *Options, v string) error {
	vals := []string{v}
	if opt.repeat {
		vals = splitList(v)
	}
	for _, item := range vals {
		if err := opt.set(o, item); err != nil {
			return err
		}
	}
	return nil
}

// Twin returns the environment variable of the option whose long name is
// long ("grace" → "TEND_GRACE"), for callers that take tend's settings from
// elsewhere (tend-runc's tend.sh/<option> annotations).
func Twin(long string) (env string, ok bool) {
	if opt := lookup("--"+long, long); opt != nil {
		return opt.env, true
	}
	return "", false
}

// CheckTwin validates v as the value of the environment twin of option
// long, by the rules Parse applies to it. The error says what is wrong and
// the accepted form, without naming the variable (the caller names the
// source it read v from).
func CheckTwin(long, v string) error {
	opt := lookup("--"+long, long)
	if opt == nil {
		return fmt.Errorf("unknown option %q", long)
	}
	if v == "" {
		return fmt.Errorf("empty value; want %s", opt.form)
	}
	o := Defaults()
	if err := opt.setEnv(&o, v); err != nil {
		return fmt.Errorf("%v; want %s", err, opt.form)
	}
	return nil
}

// Names lists the long names of every option, in --help order.
func Names() []string {
	names := make([]string, len(table))
	for i, o := range table {
		names[i] = o.long
	}
	return names
}
