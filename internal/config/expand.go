package config

import "strings"

// expand replaces ${VAR} and ${VAR:-default} in s and $$ by $. It returns
// a message (not an *Error) when a variable is unset or a reference is
// malformed.
func expand(s string, getenv Getenv) (string, string) {
	if strings.IndexByte(s, '$') < 0 {
		return s, ""
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			sb.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			sb.WriteByte('$')
			i++
			continue
		case '{':
		default:
			sb.WriteByte(c) // a bare $NAME or lone $ is left as is
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", "unterminated ${ at " + quoteSnippet(s[i:]) + "; write $$ for a literal $"
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validVarName(name) {
			return "", "${" + ref + "} is not a variable reference; accepted: ${NAME}, ${NAME:-default}, $$ for a literal $"
		}
		val, ok := getenv(name)
		switch {
		case hasDef && val == "":
			val = def
		case !ok:
			return "", "${" + name + "} is not set in tend's environment; write ${" + name + ":-default} for a fallback"
		}
		sb.WriteString(val)
		i += 2 + end
	}
	return sb.String(), ""
}

func validVarName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func quoteSnippet(s string) string {
	if len(s) > 20 {
		s = s[:20] + "..."
	}
	return tomlQuote(s)
}
