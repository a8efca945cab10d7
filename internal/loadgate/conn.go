package loadgate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// sender sends one request and reads its whole answer.
type sender interface {
	send(ctx context.Context) (status int, err error)
	close()
}

// newSender picks how a worker sends: its own keep-alive HTTP/1.1 connection
// (wrk's model: no per-request goroutine hand-offs, so the gate measures the
// server rather than the client), or net/http when a proxy is configured.
func newSender(ctx context.Context, opts Options) (sender, error) {
	req, err := newRequest(ctx, opts)
	if err != nil {
		return nil, err
	}
	if tr := opts.Transport; tr != nil && tr.Proxy != nil {
		if u, err := tr.Proxy(req); err != nil || u != nil {
			client := newClient(opts.Concurrency, tr)
			client.Timeout = opts.RequestTimeout
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			return &clientSender{client: client, req: req}, nil
		}
	}
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		return nil, fmt.Errorf("load gate: request: %w", err)
	}
	return &connSender{opts: opts, req: req, wire: wire.Bytes(), quick: req.Method != http.MethodHead}, nil
}

// clientSender sends through an http.Client (used behind proxies).
type clientSender struct {
	client *http.Client
	req    *http.Request
}

func (s *clientSender) send(context.Context) (int, error) {
	resp, err := s.client.Do(s.req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	resp.Body.Close()
	return resp.StatusCode, err
}

func (s *clientSender) close() { s.client.CloseIdleConnections() }

// connSender owns one connection and sends one request at a time over it,
// reconnecting when the server closes it. The common answer is read by
// quickHead in the read buffer; any other by net/http.
type connSender struct {
	opts   Options
	req    *http.Request
	wire   []byte // the serialized request
	quick  bool   // answers may take the fast path (not to HEAD requests: no body)
	conn   net.Conn
	cr     *countReader // counts the bytes that came back on conn
	br     *bufio.Reader
	reused bool // the connection has carried a request already
	stop   func() bool
}

func (s *connSender) send(ctx context.Context) (int, error) {
	status, err := s.try(ctx)
	if err != nil && s.reused && ctx.Err() == nil && staleConn(err) {
		// The server closed an idle keep-alive connection before this request
		// reached it (as net/http does, try once more on a new connection).
		s.close()
		status, err = s.try(ctx)
	}
	if err != nil {
		s.close()
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if hard, ok := ctx.Deadline(); ok && !time.Now().Before(hard) { // the conn's deadline fired first
			return 0, context.DeadlineExceeded
		}
	}
	return status, err
}

func (s *connSender) try(ctx context.Context) (int, error) {
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return 0, err
		}
	}
	if s.opts.RequestTimeout > 0 {
		dl := time.Now().Add(s.opts.RequestTimeout)
		if hard, ok := ctx.Deadline(); ok && hard.Before(dl) {
			dl = hard
		}
		_ = s.conn.SetDeadline(dl)
	}
	reused := s.reused
	s.reused = true
	before := s.cr.n + int64(s.br.Buffered())
	if _, err := s.conn.Write(s.wire); err != nil {
		return 0, s.wrap(err, reused && s.cr.n+int64(s.br.Buffered()) == before)
	}
	if s.quick {
		h, ok, err := s.peekHead()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // as net/http says it
			}
			return 0, s.wrap(err, reused && s.cr.n == before)
		}
		if ok && h.length <= bodyLimit {
			if _, err := s.br.Discard(h.size + int(h.length)); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return h.status, fmt.Errorf("read body: %w", err)
			}
			if h.close {
				s.close()
			}
			return h.status, nil
		}
	}
	resp, err := http.ReadResponse(s.br, s.req)
	if err != nil {
		return 0, s.wrap(err, reused && s.cr.n == before)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	more, _ := resp.Body.Read(make([]byte, 1)) // a body over the limit is cut: the connection cannot be reused
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read body: %w", err)
	}
	if resp.Close || more > 0 {
		s.close()
	}
	return resp.StatusCode, nil
}

// peekHead waits until the answer's head is whole in the buffer and parses
// it with quickHead, without consuming anything: ok is false for an answer
// net/http must read (not the common kind, or a head longer than the
// buffer).
func (s *connSender) peekHead() (h head, ok bool, err error) {
	for n := 1; ; {
		if _, err := s.br.Peek(n); err != nil {
			return head{}, false, err
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		if end, whole := headEnd(buf); whole {
			h, ok = quickHead(buf[:end])
			return h, ok, nil
		}
		if len(buf) == s.br.Size() {
			return head{}, false, nil
		}
		n = len(buf) + 1
	}
}

// wrap names the request in err, the way http.Client does; stale marks a
// failure on a reused connection before any byte of the answer came back.
func (s *connSender) wrap(err error, stale bool) error {
	if !stale {
		return fmt.Errorf("%s %q: %w", s.req.Method, s.req.URL.String(), err)
	}
	return &staleErr{fmt.Errorf("%s %q: %w", s.req.Method, s.req.URL.String(), err)}
}

func (s *connSender) dial(ctx context.Context) error {
	host := s.req.URL.Host
	if s.req.URL.Port() == "" {
		host = net.JoinHostPort(s.req.URL.Hostname(), map[string]string{"http": "80", "https": "443"}[s.req.URL.Scheme])
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if s.opts.Transport != nil && s.opts.Transport.DialContext != nil {
		dial = s.opts.Transport.DialContext
	}
	c, err := dial(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("%s %q: dial tcp %s: %w", s.req.Method, s.req.URL.String(), host, err)
	}
	if s.req.URL.Scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.opts.Transport != nil && s.opts.Transport.TLSClientConfig != nil {
			cfg = s.opts.Transport.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = s.req.URL.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return fmt.Errorf("%s %q: tls: %w", s.req.Method, s.req.URL.String(), err)
		}
		c = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	s.stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) }) // cancel unblocks reads
	s.conn, s.cr, s.reused = c, &countReader{r: c}, false
	s.br = bufio.NewReaderSize(s.cr, 16<<10)
	return nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (s *connSender) close() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// staleErr is a failure on a connection that carried a request before.
type staleErr struct{ err error }

func (e *staleErr) Error() string { return e.err.Error() }
func (e *staleErr) Unwrap() error { return e.err }

// staleConn reports whether err looks like a keep-alive connection the
// server had closed: nothing came back, and the connection ended.
func staleConn(err error) bool {
	var se *staleErr
	return errors.As(err, &se) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}
