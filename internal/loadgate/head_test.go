package loadgate

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickHead: the fast path takes the common answers and reads them as
// net/http does; every other answer is left to net/http.
func TestQuickHead(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		quick        bool
	}{
		{"erlmcpd's /health/live", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sun, 06 Dec 2026 15:00:00 GMT\r\nContent-Length: 16\r\n\r\n{\"status\":\"ok\"}\n", true},
		{"empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"no reason phrase", "HTTP/1.1 503\r\nContent-Length: 2\r\n\r\nno", true},
		{"empty reason phrase", "HTTP/1.1 404 \r\nContent-Length: 2\r\n\r\nno", true},
		{"lower-case names, spaces around values", "HTTP/1.1 200 OK\r\ncontent-length:  3 \r\nconnection:\tkeep-alive\r\n\r\nabc", true},
		{"Connection: close", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", true},
		{"close among other tokens", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: Upgrade, CLOSE\r\n\r\nabc", true},
		{"a token that only contains close", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: closed\r\n\r\nabc", true},
		{"a 500", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror", true},

		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
		{"no Content-Length (body to the close)", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc", false},
		{"two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", false},
		{"HTTP/2 status line", "HTTP/2 200 OK\r\nContent-Length: 3\r\n\r\nabc", false},
		{"1xx", "HTTP/1.1 100 Continue\r\n\r\n", false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", false},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", false},
		{"bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", false},
		{"a bare LF inside", "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 3\r\n\r\nabc", false},
		{"status not a number", "HTTP/1.1 2x0 OK\r\nContent-Length: 3\r\n\r\nabc", false},
		{"status of four digits", "HTTP/1.1 2000 OK\r\nContent-Length: 3\r\n\r\nabc", false},
		{"Content-Length not a number", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", false},
		{"Content-Length empty", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", false},
		{"a header line without a colon", "HTTP/1.1 200 OK\r\nContent-Length 3\r\n\r\nabc", false},
		{"a space in a header name", "HTTP/1.1 200 OK\r\nContent Length: 3\r\n\r\nabc", false},
		{"obsolete line folding", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\n 2\r\n\r\nabc", false},
		{"a control byte in a value", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: a\x01b\r\n\r\nabc", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			end, whole := headEnd([]byte(tc.answer))
			require.True(t, whole)
			h, ok := quickHead([]byte(tc.answer[:end]))
			require.Equal(t, tc.quick, ok)
			if !ok {
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.answer)), &http.Request{Method: http.MethodGet})
			require.NoError(t, err, "net/http reads the answers the fast path takes")
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, resp.StatusCode, h.status)
			assert.Equal(t, resp.ContentLength, h.length)
			assert.Equal(t, resp.Close, h.close)
			assert.Equal(t, len(tc.answer), h.size+len(body), "head and body are the whole answer")
		})
	}
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		buf   string
		end   int
		whole bool
	}{
		{"", 0, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", 0, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r", 0, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 38, true},
		{"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", 35, true},
		{"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 19, true},
	} {
		end, whole := headEnd([]byte(tc.buf))
		assert.Equal(t, tc.whole, whole, "%q", tc.buf)
		assert.Equal(t, tc.end, end, "%q", tc.buf)
	}
}
