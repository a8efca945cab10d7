package loadgate

import (
	"bytes"
	"strings"
)

// head is what the fast path needs of an answer's status line and headers.
type head struct {
	status int
	size   int   // bytes of the status line, the headers and the blank line
	length int64 // Content-Length
	close  bool  // Connection: close
}

// headEnd returns the length of the head at the start of buf (through its
// blank line), or false when buf does not hold a whole head yet.
func headEnd(buf []byte) (int, bool) {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return 0, false
		}
		line := buf[i : i+j]
		i += j + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i, true
		}
	}
}

// quickHead parses a whole head (headEnd's buf[:n]) without allocating, when
// the answer is the common kind: HTTP/1.1, a final status other than 204 and
// 304, one Content-Length, no Transfer-Encoding, CRLF line ends, well-formed
// header lines. For any other answer it says false and the caller lets
// net/http read it, which handles every kind of answer and names what is
// wrong with a malformed one.
func quickHead(b []byte) (head, bool) {
	h := head{size: len(b), length: -1}
	line, rest, ok := cutCRLF(b)
	// "HTTP/1.1 200 OK" (the reason phrase may be empty or missing).
	if !ok || len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return head{}, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return head{}, false
		}
		h.status = h.status*10 + int(c-'0')
	}
	if h.status < 200 || h.status == 204 || h.status == 304 {
		return head{}, false
	}
	for {
		if line, rest, ok = cutCRLF(rest); !ok {
			return head{}, false
		}
		if len(line) == 0 { // the blank line
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return head{}, false // also obsolete line folding (a line starting with a space)
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return head{}, false
			}
		}
		switch {
		case asciiEqualFold(name, "content-length"):
			if h.length >= 0 || len(value) == 0 || len(value) > 18 {
				return head{}, false
			}
			h.length = 0
			for _, c := range value {
				if c < '0' || c > '9' {
					return head{}, false
				}
				h.length = h.length*10 + int64(c-'0')
			}
		case asciiEqualFold(name, "transfer-encoding"):
			return head{}, false
		case asciiEqualFold(name, "connection"):
			h.close = h.close || hasCloseToken(value)
		}
	}
	if h.length < 0 || len(rest) != 0 {
		return head{}, false
	}
	return h, true
}

// cutCRLF splits b at its first CRLF; false when the first line does not
// end with one.
func cutCRLF(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

// isToken reports whether b is a non-empty RFC 9110 token (a header name).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// asciiEqualFold compares b with lower, a lower-case ASCII name.
func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasCloseToken reports whether a Connection value lists "close".
func hasCloseToken(v []byte) bool {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if asciiEqualFold(trimOWS(tok), "close") {
			return true
		}
	}
	return false
}
