// Package shellwords splits a command line into words the way a POSIX shell
// would, without running a shell.
//
// Only quoting is interpreted:
//
//   - unquoted blanks (space, tab, newline, carriage return) separate words;
//   - 'single quotes' keep everything up to the next single quote literally;
//   - "double quotes" keep everything literally except that a backslash
//     followed by one of " \ $ ` escapes it, and a backslash followed by a
//     newline is removed (line continuation); any other backslash is kept;
//   - outside quotes a backslash makes the next character literal, and a
//     backslash-newline pair is removed;
//   - an empty quoted string (” or "") is an empty word.
//
// Nothing else is special: there is no globbing, no variable or command
// substitution, no tilde expansion, no comments, and no operators. The
// characters | & ; < > ( ) * ? [ ] ~ # $ are ordinary characters, so
// "a|b; c" splits into "a|b;" and "c". To run a pipeline, run a shell
// explicitly, e.g. sh -c '...'.
package shellwords

import (
	"fmt"
	"strings"
)

// Split returns the words of s. An unterminated quote or a trailing lone
// backslash is an error naming the byte offset where it starts.
func Split(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool // a word has started (possibly empty, from quotes)
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			flush()
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash at offset %d", i)
			}
			i++
			if s[i] == '\n' {
				continue // line continuation
			}
			cur.WriteByte(s[i])
			inWord = true
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at offset %d", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += 1 + end
		case '"':
			start := i
			inWord = true
			closed := false
			for i++; i < len(s); i++ {
				d := s[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '\\' && i+1 < len(s) {
					switch s[i+1] {
					case '"', '\\', '$', '`':
						cur.WriteByte(s[i+1])
						i++
						continue
					case '\n':
						i++
						continue
					}
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated double quote at offset %d", start)
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, nil
}
