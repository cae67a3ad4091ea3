package logs

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// Lines of a service with a file go to the file, in the Mux's format with
// timestamps on and stderr marked, and to stdout/stderr only with stdout.
func TestSetFile(t *testing.T) {
	const ts = "2026-11-24T12:00:00.123Z "
	long := strings.Repeat("x", MaxLine) + "yz"
	tests := []struct {
		name       string
		format     Format
		timestamps bool
		stdout     bool
		in         [2]string // stdout, stderr
		wantFile   []string  // lines, sorted by stream: stdout's first
		wantOut    string
		wantErr    string
	}{
		{
			name: "text file only", in: [2]string{"a\nb\n", "oops\n"},
			wantFile: []string{ts + "svc | a", ts + "svc | b", ts + "svc ! oops"},
		},
		{
			name: "text file and stdout, no timestamps", stdout: true, in: [2]string{"a\n", "oops\n"},
			wantFile: []string{ts + "svc | a", ts + "svc ! oops"},
			wantOut:  "svc | a\n", wantErr: "svc | oops\n",
		},
		{
			name: "text file and stdout, timestamps", timestamps: true, stdout: true, in: [2]string{"a\n", "oops\n"},
			wantFile: []string{ts + "svc | a", ts + "svc ! oops"},
			wantOut:  ts + "svc | a\n", wantErr: ts + "svc | oops\n",
		},
		{
			name: "text continuation", stdout: true, in: [2]string{long + "\n", long + "\n"},
			wantFile: []string{ts + "svc | " + long[:MaxLine], ts + "svc + yz", ts + "svc ! " + long[:MaxLine], ts + "svc !+ yz"},
			wantOut:  "svc | " + long[:MaxLine] + "\nsvc + yz\n", wantErr: "svc | " + long[:MaxLine] + "\nsvc + yz\n",
		},
		{
			name: "json file only", format: JSON, in: [2]string{"a\n", "oops\n"},
			wantFile: []string{
				`{"time":"2026-11-24T12:00:00.123456789Z","service":"svc","stream":"stdout","line":"a"}`,
				`{"time":"2026-11-24T12:00:00.123456789Z","service":"svc","stream":"stderr","line":"oops"}`,
			},
		},
		{
			name: "json file and stdout", format: JSON, stdout: true, in: [2]string{"a\n", ""},
			wantFile: []string{`{"time":"2026-11-24T12:00:00.123456789Z","service":"svc","stream":"stdout","line":"a"}`},
			wantOut:  `{"time":"2026-11-24T12:00:00.123456789Z","service":"svc","stream":"stdout","line":"a"}` + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o, e, f lockedBuffer
			m := New(Options{Format: tc.format, Timestamps: tc.timestamps, Stdout: &o, Stderr: &e, Now: fixedNow})
			m.SetFile("svc", &f, tc.stdout)
			// One stream after the other, so that the file's order is known.
			m.Attach("svc", Stdout, io.NopCloser(strings.NewReader(tc.in[0])))
			wait(t, m)
			m.Attach("svc", Stderr, io.NopCloser(strings.NewReader(tc.in[1])))
			wait(t, m)
			got := strings.Split(strings.TrimSuffix(f.String(), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.wantFile, "\n") {
				t.Errorf("file:\n%s\nwant:\n%s", short(strings.Join(got, "\n")), short(strings.Join(tc.wantFile, "\n")))
			}
			if o.String() != tc.wantOut || e.String() != tc.wantErr {
				t.Errorf("stdout %q stderr %q, want %q %q", short(o.String()), short(e.String()), short(tc.wantOut), short(tc.wantErr))
			}
			if tc.format == JSON {
				for _, l := range got {
					var v map[string]any
					if err := json.Unmarshal([]byte(l), &v); err != nil {
						t.Errorf("file line %q: %v", l, err)
					}
				}
			}
			// Every line is recorded for tend logs, file or not.
			lines, _ := m.Stats("svc")
			if want := uint64(strings.Count(tc.in[0], "\n")); lines[Stdout] < want {
				t.Errorf("Stats: %d stdout lines, want >= %d", lines[Stdout], want)
			}
			if n := len(m.Tail("svc", -1)); n != len(tc.wantFile) {
				t.Errorf("Tail: %d lines, want %d", n, len(tc.wantFile))
			}
		})
	}
}

func short(s string) string {
	if len(s) > 300 {
		return s[:150] + "..." + s[len(s)-150:]
	}
	return s
}

// SetFile(nil) restores stdout; a failing file never stops the reader.
func TestSetFileErrors(t *testing.T) {
	var o, e lockedBuffer
	m := New(Options{Stdout: &o, Stderr: &e, Now: fixedNow})
	m.SetFile("svc", errWriter{}, false)
	m.Attach("svc", Stdout, io.NopCloser(strings.NewReader(strings.Repeat("line\n", 100000))))
	wait(t, m)
	if lines, _ := m.Stats("svc"); lines[Stdout] != 0 {
		t.Errorf("Stats counted %d lines written to a failing file", lines[Stdout])
	}
	m.SetFile("svc", nil, false)
	m.Attach("svc", Stdout, io.NopCloser(strings.NewReader("back\n")))
	wait(t, m)
	if o.String() != "svc | back\n" {
		t.Errorf("stdout after SetFile(nil) = %q", o.String())
	}
}
