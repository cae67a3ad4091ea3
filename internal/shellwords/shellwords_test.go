package shellwords

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n ", nil},
		{"a", []string{"a"}},
		{"  a  b\tc\nd\r\ne  ", []string{"a", "b", "c", "d", "e"}},
		{"migrate -path /migrations up", []string{"migrate", "-path", "/migrations", "up"}},
		{`'a b'`, []string{"a b"}},
		{`'a\b "c" $d'`, []string{`a\b "c" $d`}},
		{`"a b"`, []string{"a b"}},
		{`"a\"b"`, []string{`a"b`}},
		{`"a\\b"`, []string{`a\b`}},
		{`"a\$b"`, []string{`a$b`}},
		{"\"a\\`b\"", []string{"a`b"}},
		{`"a\nb"`, []string{`a\nb`}}, // other escapes keep the backslash
		{"\"a\\\nb\"", []string{"ab"}},
		{`"it's"`, []string{"it's"}},
		{`'say "hi"'`, []string{`say "hi"`}},
		{`a\ b`, []string{"a b"}},
		{`\'a\'`, []string{"'a'"}},
		{`\"`, []string{`"`}},
		{`\\`, []string{`\`}},
		{"a\\\nb", []string{"ab"}},
		{`''`, []string{""}},
		{`""`, []string{""}},
		{`a '' b`, []string{"a", "", "b"}},
		{`a"b"'c'd`, []string{"abcd"}},
		{`--opt="x y"`, []string{"--opt=x y"}},
		{`a|b; c && d > e`, []string{"a|b;", "c", "&&", "d", ">", "e"}},
		{`$HOME ${X} * ~ #c`, []string{"$HOME", "${X}", "*", "~", "#c"}},
		{"héllo wörld", []string{"héllo", "wörld"}},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if err != nil {
			t.Errorf("Split(%q): unexpected error %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`'abc`, "unterminated single quote at offset 0"},
		{`ab 'c d`, "unterminated single quote at offset 3"},
		{`"abc`, "unterminated double quote at offset 0"},
		{`a "b\"`, "unterminated double quote at offset 2"},
		{`a "b\`, "unterminated double quote at offset 2"},
		{`abc\`, "trailing backslash at offset 3"},
		{`'ok' "x' y`, "unterminated double quote at offset 5"},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if err == nil {
			t.Errorf("Split(%q) = %q, want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Split(%q) error = %q, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"a b", `'a b' "c\"d" e\ f`, `"`, `'`, `\`, "a\\\nb", `a|b;c`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Split(s)
		if err != nil {
			if words != nil {
				t.Fatalf("Split(%q) returned words with an error", s)
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Fatalf("Split(%q) error without offset: %v", s, err)
			}
			return
		}
		// Words made only of safe characters round-trip through single quotes.
		var b strings.Builder
		for _, w := range words {
			if strings.ContainsRune(w, '\'') {
				return
			}
			b.WriteString("'" + w + "' ")
		}
		again, err := Split(b.String())
		if err != nil || !reflect.DeepEqual(again, words) && !(len(again) == 0 && len(words) == 0) {
			t.Fatalf("re-split of %q: %q, %v; want %q", b.String(), again, err, words)
		}
	})
}
