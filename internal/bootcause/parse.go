package bootcause

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors of ParseTerm, wrapped with the byte offset where reading stopped.
var (
	// ErrTruncated: the text ended inside a term (a log line cut short).
	ErrTruncated = errors.New("term cut short")
	// ErrSyntax: the text is not a term where reading stopped.
	ErrSyntax = errors.New("not an Erlang term")
)

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 256

// ParseTerm reads one Erlang term as the runtime prints it, tolerating cut and depth-limited prints.
func ParseTerm(s string) (Term, error) {
	t, n, err := parsePrefix(s)
	if err != nil {
		return t, err
	}
	if rest := strings.TrimSpace(s[n:]); rest != "" {
		return t, fmt.Errorf("bootcause: text after the term at byte %d: %w", n, ErrSyntax)
	}
	return t, nil
}

// parsePrefix reads one term from the start of s and returns how many bytes
// it took.
func parsePrefix(s string) (Term, int, error) {
	p := &parser{s: s}
	t, err := p.term()
	if err != nil {
		return t, p.i, fmt.Errorf("bootcause: term at byte %d: %w", p.i, err)
	}
	return t, p.i, nil
}

type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *parser) skipSpace() {
	for !p.eof() {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) has(prefix string) bool { return strings.HasPrefix(p.s[p.i:], prefix) }

// term reads one term; at a separator or closer it reads an empty slot.
func (p *parser) term() (Term, error) {
	p.skipSpace()
	if p.eof() {
		return Elided{}, ErrTruncated
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return Elided{}, ErrSyntax
	}
	c := p.peek()
	switch {
	case c == ',' || c == '}' || c == ']' || c == '|' || c == ')' || p.has(">>") || p.has("=>"):
		return Elided{}, nil // an empty slot: the halt string prints {,…} for what it dropped
	case c == '{':
		p.i++
		elems, err := p.seq('}')
		return Tuple(elems), err
	case c == '[':
		return p.list()
	case p.has("#{"):
		p.i += 2
		return p.mapBody()
	case c == '#':
		return p.opaque()
	case p.has("<<"):
		return p.binary()
	case c == '<':
		return p.pid()
	case c == '"':
		return p.str()
	case c == '\'':
		s, err := p.quoted('\'')
		return Atom(s), err
	case c == '$':
		return p.char()
	case p.has("..."):
		p.i += 3
		return Elided{}, nil
	case c == '-' || c == '+' || isDigit(c):
		if c != '-' && c != '+' || p.i+1 < len(p.s) && isDigit(p.s[p.i+1]) {
			return p.number()
		}
		return p.word()
	case isWordStart(c):
		return p.word()
	}
	return Elided{}, ErrSyntax
}

// seq reads terms separated by commas up to closer.
func (p *parser) seq(closer byte) ([]Term, error) {
	var elems []Term
	p.skipSpace()
	if p.peek() == closer {
		p.i++
		return elems, nil
	}
	for {
		t, err := p.term()
		elems = append(elems, t)
		if err != nil {
			return elems, err
		}
		p.skipSpace()
		switch {
		case p.eof():
			return elems, ErrTruncated
		case p.peek() == ',':
			p.i++
		case p.peek() == closer:
			p.i++
			return elems, nil
		default:
			return elems, ErrSyntax
		}
	}
}

func (p *parser) list() (Term, error) {
	p.i++ // [
	var l List
	p.skipSpace()
	if p.peek() == ']' {
		p.i++
		return l, nil
	}
	for {
		t, err := p.term()
		l.Elems = append(l.Elems, t)
		if err != nil {
			return l, err
		}
		p.skipSpace()
		switch {
		case p.eof():
			return l, ErrTruncated
		case p.peek() == ',':
			p.i++
		case p.peek() == ']':
			p.i++
			return l, nil
		case p.peek() == '|':
			p.i++
			tail, err := p.term()
			l.Tail = tail
			if err != nil {
				return l, err
			}
			p.skipSpace()
			if p.eof() {
				return l, ErrTruncated
			}
			if p.peek() != ']' {
				return l, ErrSyntax
			}
			p.i++
			return l, nil
		default:
			return l, ErrSyntax
		}
	}
}

func (p *parser) mapBody() (Term, error) {
	var m Map
	p.skipSpace()
	if p.peek() == '}' {
		p.i++
		return m, nil
	}
	for {
		k, err := p.term()
		m.Keys = append(m.Keys, k)
		m.Values = append(m.Values, Elided{})
		if err != nil {
			return m, err
		}
		p.skipSpace()
		if p.has("=>") || p.has(":=") {
			p.i += 2
			v, err := p.term()
			m.Values[len(m.Values)-1] = v
			if err != nil {
				return m, err
			}
			p.skipSpace()
		}
		switch {
		case p.eof():
			return m, ErrTruncated
		case p.peek() == ',':
			p.i++
		case p.peek() == '}':
			p.i++
			return m, nil
		default:
			return m, ErrSyntax
		}
	}
}

// opaque reads #Ref<…>, #Port<…>, #Fun<…>, #PID<…> and the like.
func (p *parser) opaque() (Term, error) {
	start := p.i
	p.i++ // #
	name := p.i
	for !p.eof() && isWordChar(p.peek()) {
		p.i++
	}
	kind := p.s[name:p.i]
	if kind == "" || p.peek() != '<' {
		return Elided{}, ErrSyntax
	}
	end := strings.IndexByte(p.s[p.i:], '>')
	if end < 0 {
		p.i = len(p.s)
		return Opaque{Kind: kind, Text: p.s[start:]}, ErrTruncated
	}
	p.i += end + 1
	return Opaque{Kind: kind, Text: p.s[start:p.i]}, nil
}

func (p *parser) pid() (Term, error) {
	start := p.i
	p.i++ // <
	for !p.eof() && (isDigit(p.peek()) || p.peek() == '.') {
		p.i++
	}
	if p.eof() {
		return Pid(p.s[start:]), ErrTruncated
	}
	if p.peek() != '>' {
		return Elided{}, ErrSyntax
	}
	p.i++
	return Pid(p.s[start:p.i]), nil
}

// binary reads <<…>>: byte values, strings, Value:Size/type segments, `...`,
// and <<N bytes>>.
func (p *parser) binary() (Term, error) {
	p.i += 2 // <<
	var b Binary
	p.skipSpace()
	if p.has(">>") {
		p.i += 2
		return b, nil
	}
	for {
		p.skipSpace()
		switch {
		case p.eof():
			return b, ErrTruncated
		case p.has("..."):
			p.i += 3
			b.Cut = true
		case p.peek() == '"':
			s, err := p.quoted('"')
			b.Data = append(b.Data, s...)
			if err != nil {
				return b, err
			}
		case isDigit(p.peek()) || p.peek() == '-':
			n, err := p.number()
			if err != nil {
				return b, err
			}
			v, _ := n.(Int)
			p.skipSpace()
			if p.has("bytes") {
				p.i += len("bytes")
				b.Size, b.Cut, b.Data = int(v), true, nil
				break
			}
			b.Data = append(b.Data, byte(v))
		default:
			return b, ErrSyntax
		}
		// A segment's size and type: :Size, /utf8, /binary, …
		for !p.eof() && (p.peek() == ':' || p.peek() == '/') {
			p.i++
			for !p.eof() && (isWordChar(p.peek()) || p.peek() == '-') {
				p.i++
			}
		}
		p.skipSpace()
		switch {
		case p.eof():
			return b, ErrTruncated
		case p.peek() == ',':
			p.i++
		case p.has(">>"):
			p.i += 2
			return b, nil
		default:
			return b, ErrSyntax
		}
	}
}

// str reads a string; adjacent strings ("ab" "cd", as ~p splits long ones)
// are one, and a trailing `...` (a cut string) is dropped.
func (p *parser) str() (Term, error) {
	var sb strings.Builder
	for {
		s, err := p.quoted('"')
		sb.WriteString(s)
		if err != nil {
			return String(sb.String()), err
		}
		save := p.i
		p.skipSpace()
		if p.has("...") {
			p.i += 3
			return String(sb.String()), nil
		}
		if p.peek() != '"' {
			p.i = save
			return String(sb.String()), nil
		}
	}
}

// quoted reads a '…' or "…" token with Erlang escapes.
func (p *parser) quoted(q byte) (string, error) {
	p.i++ // opening quote
	var sb strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return sb.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			p.i++
			p.escape(&sb)
		default:
			_, n := utf8.DecodeRuneInString(p.s[p.i:])
			sb.WriteString(p.s[p.i : p.i+n])
			p.i += n
		}
	}
	return sb.String(), ErrTruncated
}

// escape reads the escape after a backslash.
func (p *parser) escape(sb *strings.Builder) {
	c := p.s[p.i]
	p.i++
	switch c {
	case 'n':
		sb.WriteByte('\n')
	case 't':
		sb.WriteByte('\t')
	case 'r':
		sb.WriteByte('\r')
	case 'e':
		sb.WriteByte(0x1b)
	case 's':
		sb.WriteByte(' ')
	case 'b':
		sb.WriteByte('\b')
	case 'f':
		sb.WriteByte('\f')
	case 'v':
		sb.WriteByte('\v')
	case 'd':
		sb.WriteByte(0x7f)
	case 'x':
		hex := ""
		if p.peek() == '{' {
			if end := strings.IndexByte(p.s[p.i:], '}'); end > 0 {
				hex = p.s[p.i+1 : p.i+end]
				p.i += end + 1
			}
		} else {
			for len(hex) < 2 && !p.eof() && isHex(p.peek()) {
				hex += string(p.peek())
				p.i++
			}
		}
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil && v <= utf8.MaxRune {
			sb.WriteRune(rune(v))
		}
	case '0', '1', '2', '3', '4', '5', '6', '7':
		v := int(c - '0')
		for k := 0; k < 2 && !p.eof() && p.peek() >= '0' && p.peek() <= '7'; k++ {
			v = v*8 + int(p.peek()-'0')
			p.i++
		}
		sb.WriteRune(rune(v))
	case '^':
		if !p.eof() {
			sb.WriteByte(p.peek() & 0x1f)
			p.i++
		}
	default:
		p.i--
		_, n := utf8.DecodeRuneInString(p.s[p.i:])
		sb.WriteString(p.s[p.i : p.i+n])
		p.i += n
	}
}

func (p *parser) char() (Term, error) {
	p.i++ // $
	if p.eof() {
		return Elided{}, ErrTruncated
	}
	if p.peek() == '\\' && p.i+1 < len(p.s) {
		p.i++
		var sb strings.Builder
		p.escape(&sb)
		r, _ := utf8.DecodeRuneInString(sb.String())
		return Int(r), nil
	}
	r, n := utf8.DecodeRuneInString(p.s[p.i:])
	p.i += n
	return Int(r), nil
}

// number reads an integer (also Base#Digits) or a float.
func (p *parser) number() (Term, error) {
	start := p.i
	if p.peek() == '-' || p.peek() == '+' {
		p.i++
	}
	for !p.eof() && isDigit(p.peek()) {
		p.i++
	}
	if p.peek() == '#' { // 16#FF
		base, err := strconv.Atoi(strings.TrimLeft(p.s[start:p.i], "+-"))
		p.i++
		ds := p.i
		for !p.eof() && isAlnum(p.peek()) {
			p.i++
		}
		if err != nil || base < 2 || base > 36 {
			return Opaque{Kind: "integer", Text: p.s[start:p.i]}, nil
		}
		v, err := strconv.ParseInt(p.s[ds:p.i], base, 64)
		if err != nil {
			return Opaque{Kind: "integer", Text: p.s[start:p.i]}, nil
		}
		if p.s[start] == '-' {
			v = -v
		}
		return Int(v), nil
	}
	float := false
	if p.peek() == '.' && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]) {
		float = true
		p.i++
		for !p.eof() && isDigit(p.peek()) {
			p.i++
		}
	}
	if float && (p.peek() == 'e' || p.peek() == 'E') {
		j := p.i + 1
		if j < len(p.s) && (p.s[j] == '-' || p.s[j] == '+') {
			j++
		}
		if j < len(p.s) && isDigit(p.s[j]) {
			p.i = j
			for !p.eof() && isDigit(p.peek()) {
				p.i++
			}
		}
	}
	text := p.s[start:p.i]
	if float {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return Opaque{Kind: "float", Text: text}, nil
		}
		return Float(f), nil
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return Opaque{Kind: "integer", Text: text}, nil
	}
	return Int(v), nil
}

// word reads an unquoted atom. The halt string prints atoms unquoted
// ({cannot get bootfile,C:\otp/bin/start.boot}, Elixir.Config, __eval__!),
// so a word takes the characters such atoms have, spaces between words
// included; `_` alone is Elided, and `fun M:F/A` an Opaque fun.
func (p *parser) word() (Term, error) {
	start := p.i
	for !p.eof() {
		c := p.peek()
		if isWordChar(c) || c >= utf8.RuneSelf || strings.IndexByte(`@.!?-/^$\:*+~&%`, c) >= 0 {
			if c == '.' && p.has("...") {
				break
			}
			p.i++
			continue
		}
		if c == ' ' { // a space inside an unquoted atom, when a word follows
			j := p.i
			for j < len(p.s) && p.s[j] == ' ' {
				j++
			}
			if j < len(p.s) && isWordChar(p.s[j]) {
				p.i = j
				continue
			}
		}
		break
	}
	w := p.s[start:p.i]
	if w == "fun" && p.peek() == ' ' { // fun 'Elixir.Jason':'encode!'/2
		for !p.eof() && strings.IndexByte(",}])|>", p.peek()) < 0 {
			if p.peek() == '\'' {
				if _, err := p.quoted('\''); err != nil {
					return Opaque{Kind: "fun", Text: p.s[start:]}, err
				}
				continue
			}
			p.i++
		}
		return Opaque{Kind: "fun", Text: strings.TrimSpace(p.s[start:p.i])}, nil
	}
	switch {
	case w == "_":
		return Elided{}, nil
	case strings.HasPrefix(w, "fun "):
		return Opaque{Kind: "fun", Text: w}, nil
	}
	return Atom(w), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isWordChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '@'
}
func isWordStart(c byte) bool {
	return isAlnum(c) || c == '_' || c >= utf8.RuneSelf || strings.IndexByte(`!?^\:*~&%/.`, c) >= 0
}
