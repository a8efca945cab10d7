package loadgate_test

import (
	"bufio"
	"context"
	"crypto/x509"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var requests, connections atomic.Int64
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
					requests.Add(1)
					if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")); err != nil || i%3 == 0 {
						return // every third answer ends the connection without saying so
					}
				}
			}()
		}
	}()
	res := run(t, loadgate.Options{URL: "http://" + ln.Addr().String(), Concurrency: 2})
	assert.Zero(t, res.Errors, res.ErrorKinds)
	assert.Greater(t, res.Requests, int64(30))
	assert.Greater(t, connections.Load(), res.Requests/3, "reconnected")
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
