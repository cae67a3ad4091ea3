package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The TOML document is read with go-toml's AST parser (package unstable,
// pinned by go.mod) rather than its reflection decoder: one pass gives the
// line of every key and value, and a lean import.

type kind uint8

const (
	kString kind = iota
	kInt
	kBool
	kFloat
	kDatetime
	kArray
	kTable
	kTableArray
)

func (k kind) String() string {
	return [...]string{"a string", "an integer", "a boolean", "a float", "a date-time", "an array", "a table", "an array of tables"}[k]
}

// value is a decoded TOML value with its line.
type value struct {
	kind kind
	line int
	s    string // string; source text of float and date-time
	i    int64
	b    bool
	arr  []*value // array and array of tables (of kTable values)
	tbl  *table
}

type defKind uint8

const (
	defImplicit defKind = iota // created as a parent of a [header] table
	defHeader                  // [header]
	defDotted                  // by a dotted key a.b = 1
	defInline                  // { inline } (closed)
)

type table struct {
	keys   []string // in order of first definition
	fields map[string]*field
	how    defKind
}

type field struct {
	name string
	line int // line of the key
	val  *value
}

func newTable(how defKind) *table {
	return &table{fields: map[string]*field{}, how: how}
}

func (t *table) get(name string) *field { return t.fields[name] }

func (t *table) add(name string, line int, v *value) *field {
	f := &field{name: name, line: line, val: v}
	t.fields[name] = f
	t.keys = append(t.keys, name)
	return f
}

type keyPart struct {
	name string
	line int
}

type builder struct {
	file string
	nl   []int // offsets of the newlines of the input
}

func (b *builder) line(r unstable.Range) int {
	return b.lineAt(int(r.Offset))
}

func (b *builder) lineAt(off int) int {
	return sort.SearchInts(b.nl, off) + 1
}

func (b *builder) errf(line int, key, msg string) *Error {
	return &Error{File: b.file, Line: line, Key: key, Msg: msg}
}

// buildTree parses a TOML document into a tree of tables, enforcing TOML's
// rules on redefinition.
func buildTree(file string, data []byte) (*table, error) {
	b := &builder{file: file}
	for i, c := range data {
		if c == '\n' {
			b.nl = append(b.nl, i)
		}
	}
	root := newTable(defHeader)
	cur, curPath := root, []string(nil)
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		var err error
		switch e.Kind {
		case unstable.KeyValue:
			err = b.keyValue(cur, curPath, e)
		case unstable.Table, unstable.ArrayTable:
			cur, curPath, err = b.header(root, e)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := p.Error(); err != nil {
		var pe *unstable.ParserError
		if errors.As(err, &pe) {
			off := cap(data) - cap(pe.Highlight)
			off = max(0, min(off, len(data)))
			msg := pe.Message
			if msg != "" {
				msg = "TOML syntax: " + msg
			}
			return nil, b.errf(b.lineAt(off), joinKey(pe.Key), msg)
		}
		return nil, b.errf(1, "", "TOML syntax: "+err.Error())
	}
	return root, nil
}

func (b *builder) keyParts(n *unstable.Node) []keyPart {
	var ks []keyPart
	it := n.Key()
	for it.Next() {
		k := it.Node()
		ks = append(ks, keyPart{string(k.Data), b.line(k.Raw)})
	}
	return ks
}

// header handles [a.b] and [[a.b]], returning the table that the following
// key/values go into.
func (b *builder) header(root *table, e *unstable.Node) (*table, []string, error) {
	ks := b.keyParts(e)
	isArray := e.Kind == unstable.ArrayTable
	t := root
	var path []string
	for i, k := range ks {
		path = append(path, k.name)
		last := i == len(ks)-1
		f := t.get(k.name)
		if f == nil {
			switch {
			case last && isArray:
				nt := newTable(defHeader)
				t.add(k.name, k.line, &value{kind: kTableArray, line: k.line,
					arr: []*value{{kind: kTable, line: k.line, tbl: nt}}})
				return nt, path, nil
			case last:
				nt := newTable(defHeader)
				t.add(k.name, k.line, &value{kind: kTable, line: k.line, tbl: nt})
				return nt, path, nil
			default:
				nt := newTable(defImplicit)
				t.add(k.name, k.line, &value{kind: kTable, line: k.line, tbl: nt})
				t = nt
				continue
			}
		}
		v := f.val
		switch {
		case last && isArray:
			if v.kind != kTableArray {
				return nil, nil, b.errf(k.line, joinKey(path), "cannot define an array of tables: already "+v.kind.String()+" at line "+strconv.Itoa(f.line))
			}
			nt := newTable(defHeader)
			v.arr = append(v.arr, &value{kind: kTable, line: k.line, tbl: nt})
			return nt, path, nil
		case v.kind == kTableArray:
			if last {
				return nil, nil, b.errf(k.line, joinKey(path), "cannot define a table: already an array of tables at line "+strconv.Itoa(f.line))
			}
			t = v.arr[len(v.arr)-1].tbl
		case v.kind != kTable:
			return nil, nil, b.errf(k.line, joinKey(path), "cannot define a table: already "+v.kind.String()+" at line "+strconv.Itoa(f.line))
		case v.tbl.how == defInline:
			return nil, nil, b.errf(k.line, joinKey(path), "cannot extend an inline table (defined at line "+strconv.Itoa(f.line)+")")
		case last:
			if v.tbl.how != defImplicit {
				return nil, nil, b.errf(k.line, joinKey(path), "table defined twice (first at line "+strconv.Itoa(f.line)+")")
			}
			v.tbl.how = defHeader
			v.line, f.line = k.line, k.line
			return v.tbl, path, nil
		default:
			t = v.tbl
		}
	}
	return t, path, nil // unreachable: a header has at least one key
}

// keyValue adds a (possibly dotted) key = value to t.
func (b *builder) keyValue(t *table, base []string, e *unstable.Node) error {
	ks := b.keyParts(e)
	path := append([]string(nil), base...)
	for i, k := range ks {
		path = append(path, k.name)
		f := t.get(k.name)
		if i == len(ks)-1 {
			if f != nil {
				return b.errf(k.line, joinKey(path), "defined twice (first at line "+strconv.Itoa(f.line)+")")
			}
			v, err := b.value(e.Value(), path, ks[0].line)
			if err != nil {
				return err
			}
			t.add(k.name, k.line, v)
			return nil
		}
		if f == nil {
			nt := newTable(defDotted)
			t.add(k.name, k.line, &value{kind: kTable, line: k.line, tbl: nt})
			t = nt
			continue
		}
		switch {
		case f.val.kind != kTable:
			return b.errf(k.line, joinKey(path), "cannot add keys: already "+f.val.kind.String()+" at line "+strconv.Itoa(f.line))
		case f.val.tbl.how == defInline:
			return b.errf(k.line, joinKey(path), "cannot extend an inline table (defined at line "+strconv.Itoa(f.line)+")")
		case f.val.tbl.how == defHeader:
			return b.errf(k.line, joinKey(path), "cannot add keys with a dotted key to a table defined by a [header] at line "+strconv.Itoa(f.line))
		}
		t = f.val.tbl
	}
	return nil
}

// value converts a value node; line is used when the node has no position.
func (b *builder) value(n *unstable.Node, path []string, line int) (*value, error) {
	if n.Raw.Length > 0 {
		line = b.line(n.Raw)
	}
	v := &value{line: line}
	switch n.Kind {
	case unstable.String:
		v.kind, v.s = kString, string(n.Data)
	case unstable.Bool:
		v.kind, v.b = kBool, string(n.Data) == "true"
	case unstable.Integer:
		i, err := parseInt(string(n.Data))
		if err != nil {
			return nil, b.errf(line, joinKey(path), "integer "+string(n.Data)+" is out of range")
		}
		v.kind, v.i = kInt, i
	case unstable.Float:
		v.kind, v.s = kFloat, string(n.Data)
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		v.kind, v.s = kDatetime, string(n.Data)
	case unstable.Array:
		v.kind = kArray
		it := n.Children()
		for i := 0; it.Next(); i++ {
			ev, err := b.value(it.Node(), append(path[:len(path):len(path)], "["+strconv.Itoa(i)+"]"), line)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, ev)
			line = ev.line
		}
		if len(v.arr) > 0 && n.Raw.Length == 0 {
			v.line = v.arr[0].line
		}
	case unstable.InlineTable:
		v.kind = kTable
		t := newTable(defDotted)
		it := n.Children()
		for it.Next() {
			if err := b.keyValue(t, path, it.Node()); err != nil {
				return nil, err
			}
		}
		closeInline(t)
		v.tbl = t
	default:
		return nil, b.errf(line, joinKey(path), "unsupported TOML value "+n.Kind.String())
	}
	return v, nil
}

// closeInline marks an inline table and its dotted sub-tables as closed.
func closeInline(t *table) {
	t.how = defInline
	for _, f := range t.fields {
		if f.val.kind == kTable && f.val.tbl.how == defDotted {
			closeInline(f.val.tbl)
		}
	}
}

// parseInt parses a TOML integer already checked by the parser's scanner.
func parseInt(s string) (int64, error) {
	s = strings.ReplaceAll(s, "_", "")
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 10 {
			s = s[2:]
		}
	}
	return strconv.ParseInt(s, base, 64)
}

// joinKey renders a key path, quoting parts that are not bare keys. Array
// indexes ("[0]") are appended without a dot.
func joinKey(parts []string) string {
	var sb strings.Builder
	for i, p := range parts {
		if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") && i > 0 {
			sb.WriteString(p)
			continue
		}
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(quoteKey(p))
	}
	return sb.String()
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func quoteKey(s string) string {
	if isBareKey(s) {
		return s
	}
	return tomlQuote(s)
}

// tomlQuote renders s as a TOML basic string.
func tomlQuote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			sb.WriteString(`\u00`)
			sb.WriteByte("0123456789abcdef"[r>>4])
			sb.WriteByte("0123456789abcdef"[r&0xf])
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
