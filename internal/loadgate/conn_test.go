package loadgate_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/loadgate"
)

// counting is a server that counts requests and new connections.
type counting struct {
	srv         *httptest.Server
	requests    atomic.Int64
	connections atomic.Int64
}

func newCounting(t *testing.T, tls bool, h http.HandlerFunc) *counting {
	c := &counting{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		h(w, r)
	}))
	c.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the unknown-CA case makes handshake noise
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.connections.Add(1)
		}
	}
	if tls {
		c.srv.StartTLS()
	} else {
		c.srv.Start()
	}
	t.Cleanup(c.srv.Close)
	return c
}

func run(t *testing.T, opts loadgate.Options) *loadgate.Result {
	t.Helper()
	if opts.Duration == 0 {
		opts.Duration = 300 * time.Millisecond
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 4
	}
	res, err := loadgate.Run(context.Background(), opts)
	require.NoError(t, err)
	return res
}

func TestEachWorkerKeepsItsConnection(t *testing.T) {
	c := newCounting(t, false, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "Bearer s3cr3t", r.Header.Get("Authorization"))
		assert.Equal(t, "erlmcp.example", r.Host)
		_, _ = w.Write([]byte(strings.Repeat("x", 100)))
	})
	res := run(t, loadgate.Options{URL: c.srv.URL + "/health/live",
		Headers: http.Header{"Authorization": {"Bearer s3cr3t"}, "Host": {"erlmcp.example"}}})
	assert.Zero(t, res.Errors, res.ErrorKinds)
	assert.Greater(t, res.Requests, int64(100))
	assert.Equal(t, res.Requests, c.requests.Load())
	assert.Equal(t, int64(4), c.connections.Load(), "one keep-alive connection per worker")
}

func TestAnswersThatEndTheConnection(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"Connection: close": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("bye"))
		},
		"chunked": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("part 1"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("part 2"))
		},
		"a body over the 1 MiB read limit": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(make([]byte, 3<<20))
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCounting(t, false, h)
			res := run(t, loadgate.Options{URL: c.srv.URL, Concurrency: 2})
			assert.Zero(t, res.Errors, res.ErrorKinds)
			assert.Positive(t, res.Requests)
		})
	}
}

// A server that drops a keep-alive connection right after an answer (no
// Connection: close) makes the next request on it fail before any byte
// comes back: that request is sent again on a new connection, like net/http.
func TestAStaleConnectionIsRetriedOnce(t *testing.T) {
	var requests atomic.Int64
	url, connections := rawServer(t, func(conn net.Conn, i int) bool {
		requests.Add(1)
		_, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		return err == nil && i%3 != 0 // every third answer ends the connection without saying so
	})
	res := run(t, loadgate.Options{URL: url, Concurrency: 2})
	assert.Zero(t, res.Errors, res.ErrorKinds)
	assert.Greater(t, res.Requests, int64(30))
	// Each connection carries 3 requests, so a worker that sent a multiple of 3 has exactly n/3 connections.
	assert.GreaterOrEqual(t, connections.Load(), res.Requests/3, "reconnected")
	assert.InDelta(t, res.Requests, requests.Load(), 2, "no request counted twice (give or take the ones cut at the end)")
}

func TestTLS(t *testing.T) {
	c := newCounting(t, true, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "HTTP/1.1", r.Proto)
	})
	pool := x509.NewCertPool()
	pool.AddCert(c.srv.Certificate())
	tr := &http.Transport{TLSClientConfig: c.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	tr.TLSClientConfig.RootCAs = pool
	res := run(t, loadgate.Options{URL: c.srv.URL, Transport: tr})
	assert.Zero(t, res.Errors, res.ErrorKinds)
	assert.Equal(t, int64(4), c.connections.Load())

	res = run(t, loadgate.Options{URL: c.srv.URL, Duration: 100 * time.Millisecond})
	assert.Equal(t, res.Requests, res.Errors, "an unknown CA fails every request")
	for kind := range res.ErrorKinds {
		assert.Contains(t, kind, "certificate")
	}
}

func TestRequestTimeout(t *testing.T) {
	c := newCounting(t, false, func(http.ResponseWriter, *http.Request) { time.Sleep(200 * time.Millisecond) })
	res := run(t, loadgate.Options{URL: c.srv.URL, Concurrency: 2, RequestTimeout: 20 * time.Millisecond, Duration: 200 * time.Millisecond})
	assert.Equal(t, res.Requests, res.Errors)
	assert.Positive(t, res.ErrorKinds["timed out"], res.ErrorKinds)
}

func TestThroughAProxy(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
	}))
	defer proxy.Close()
	pu, err := url.Parse(proxy.URL)
	require.NoError(t, err)
	res := run(t, loadgate.Options{URL: "http://erlmcp.internal:8080/health/live", Transport: &http.Transport{Proxy: http.ProxyURL(pu)}})
	assert.Zero(t, res.Errors, res.ErrorKinds)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	assert.Equal(t, "http://erlmcp.internal:8080/health/live", seen[0], "the proxy got the absolute URL")
}

// rawServer answers every request on a connection with answer(i), the i-th
// answer on it, written as is; it counts connections.
func rawServer(t *testing.T, answer func(conn net.Conn, i int) bool) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var connections atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			connections.Add(1)
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for i := 1; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_ = req.Body.Close()
					if !answer(conn, i) {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), &connections
}

// Answers in pieces, and answers the fast path leaves to net/http, are read
// whole, each worker keeping its one connection.
func TestAnswersOfEveryShape(t *testing.T) {
	write := func(parts ...string) func(net.Conn, int) bool {
		return func(conn net.Conn, _ int) bool {
			for i, p := range parts {
				if i > 0 {
					time.Sleep(time.Millisecond)
				}
				if _, err := conn.Write([]byte(p)); err != nil {
					return false
				}
			}
			return true
		}
	}
	big := strings.Repeat("x", 40<<10)
	for name, answer := range map[string]func(net.Conn, int) bool{
		"the head in pieces":           write("HTTP/1.1 200 OK\r\nContent-", "Length: 5\r\n", "\r", "\nhello"),
		"the body in pieces":           write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe", "llo"),
		"a body over the buffer":       write("HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(big)) + "\r\n\r\n" + big),
		"a head over the buffer":       write("HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\nContent-Length: 5\r\n\r\nhello"),
		"bare LF line ends":            write("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"),
		"chunked":                      write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
		"204 without a Content-Length": write("HTTP/1.1 204 No Content\r\n\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			url, connections := rawServer(t, answer)
			res := run(t, loadgate.Options{URL: url, Concurrency: 2})
			assert.Zero(t, res.Errors, res.ErrorKinds)
			assert.Greater(t, res.Requests, int64(10))
			assert.Equal(t, int64(2), connections.Load(), "one keep-alive connection per worker")
		})
	}
}

// An answer to HEAD has a Content-Length and no body.
func TestHeadRequests(t *testing.T) {
	c := newCounting(t, false, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) })
	res := run(t, loadgate.Options{URL: c.srv.URL, Method: http.MethodHead, Concurrency: 2})
	assert.Zero(t, res.Errors, res.ErrorKinds)
	assert.Greater(t, res.Requests, int64(10))
	assert.Equal(t, int64(2), c.connections.Load())
}

// A body cut short by the server is a failed request; the worker reconnects.
func TestTruncatedBody(t *testing.T) {
	url, connections := rawServer(t, func(conn net.Conn, _ int) bool {
		_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))
		return false
	})
	res := run(t, loadgate.Options{URL: url, Concurrency: 1, Duration: 100 * time.Millisecond})
	assert.Positive(t, res.Requests)
	assert.Equal(t, res.Requests, res.Errors)
	assert.Equal(t, map[string]int{"read body: unexpected EOF": int(res.Errors)}, res.ErrorKinds)
	assert.Equal(t, res.Requests, connections.Load())
}
