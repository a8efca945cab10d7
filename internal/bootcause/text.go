package bootcause

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text decodes a term that holds text: a string, char list, binary or iolist of them.
func Text(t Term) (string, bool) {
	var sb strings.Builder
	if !appendText(&sb, t, 0) {
		return "", false
	}
	return sb.String(), true
}

func appendText(sb *strings.Builder, t Term, depth int) bool {
	if depth > 16 {
		return false
	}
	switch v := t.(type) {
	case String:
		sb.WriteString(string(v))
		return true
	case Binary:
		if v.Data == nil && v.Size > 0 {
			return false
		}
		if utf8.Valid(v.Data) {
			sb.Write(v.Data)
		} else {
			for _, b := range v.Data { // Latin-1
				sb.WriteRune(rune(b))
			}
		}
		return printable(v.Data)
	case Int:
		if !isTextRune(rune(v)) {
			return false
		}
		sb.WriteRune(rune(v))
		return true
	case List:
		if v.Tail != nil {
			if _, ok := v.Tail.(Elided); !ok && !appendTextTail(v.Tail) {
				return false
			}
		}
		if len(v.Elems) == 0 {
			return false
		}
		for _, e := range v.Elems {
			if _, ok := e.(Elided); ok {
				continue
			}
			if !appendText(sb, e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func appendTextTail(t Term) bool {
	switch t.(type) {
	case String, Binary:
		return true
	}
	return false
}

// isTextRune: characters a message has (printable, or a line break or tab).
func isTextRune(r rune) bool {
	return r == '\n' || r == '\t' || r == '\r' || r >= ' ' && r <= utf8.MaxRune && unicode.IsPrint(r) ||
		r >= 0xa0 && r <= 0xff
}

// printable: the bytes decode to text (a binary of other bytes is data).
func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if utf8.Valid(b) {
		for _, r := range string(b) {
			if !isTextRune(r) {
				return false
			}
		}
		return true
	}
	for _, c := range b {
		if !isTextRune(rune(c)) {
			return false
		}
	}
	return true
}

// Format prints a term as ~0p would, in at most max bytes (0: no limit) and "…".
func Format(t Term, max int) string {
	var sb strings.Builder
	format(&sb, t, max, 0)
	s := sb.String()
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func format(sb *strings.Builder, t Term, max, depth int) {
	if max > 0 && sb.Len() > max || depth > maxDepth {
		return
	}
	switch v := t.(type) {
	case nil:
	case Atom:
		sb.WriteString(quoteAtom(string(v)))
	case Int:
		sb.WriteString(strconv.FormatInt(int64(v), 10))
	case Float:
		sb.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 64))
	case String:
		sb.WriteString(strconv.Quote(string(v)))
	case Pid:
		sb.WriteString(string(v))
	case Opaque:
		sb.WriteString(v.Text)
	case Elided:
		sb.WriteString("...")
	case Binary:
		switch {
		case v.Data == nil && v.Size > 0:
			sb.WriteString("<<" + strconv.Itoa(v.Size) + " bytes>>")
		case printable(v.Data):
			s, _ := Text(v)
			sb.WriteString("<<" + strconv.Quote(s) + ">>")
		default:
			sb.WriteString("<<")
			for i, b := range v.Data {
				if i > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(strconv.Itoa(int(b)))
			}
			sb.WriteString(">>")
		}
	case Tuple:
		sb.WriteByte('{')
		for i, e := range v {
			if i > 0 {
				sb.WriteByte(',')
			}
			format(sb, e, max, depth+1)
		}
		sb.WriteByte('}')
	case List:
		if s, ok := Text(v); ok && v.Tail == nil {
			sb.WriteString(strconv.Quote(s))
			return
		}
		sb.WriteByte('[')
		for i, e := range v.Elems {
			if i > 0 {
				sb.WriteByte(',')
			}
			format(sb, e, max, depth+1)
		}
		if v.Tail != nil {
			sb.WriteByte('|')
			format(sb, v.Tail, max, depth+1)
		}
		sb.WriteByte(']')
	case Map:
		sb.WriteString("#{")
		for i := range v.Keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			format(sb, v.Keys[i], max, depth+1)
			sb.WriteString(" => ")
			format(sb, v.Values[i], max, depth+1)
		}
		sb.WriteByte('}')
	}
}

// quoteAtom quotes an atom that needs it ('EXIT', 'Elixir.Mix').
func quoteAtom(a string) string {
	if a != "" && a[0] >= 'a' && a[0] <= 'z' {
		plain := true
		for i := 0; i < len(a); i++ {
			if !isWordChar(a[i]) {
				plain = false
				break
			}
		}
		if plain {
			return a
		}
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(a) + "'"
}
