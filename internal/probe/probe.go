// Package probe checks HTTP health endpoints, once (Get) or until they answer
// as expected (WaitHealthy), and reports what the endpoint last said.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// DefaultTimeout is the per-request timeout of the default client.
	DefaultTimeout = 5 * time.Second
	// DefaultInterval is the first pause between attempts when Options.Interval is zero.
	DefaultInterval = 250 * time.Millisecond
	// DefaultMaxInterval caps the pause between attempts when Options.MaxInterval is zero.
	DefaultMaxInterval = 5 * time.Second
	// BodyLimit is how many bytes of the response body are kept in Result.Body.
	BodyLimit = 512
)

// drainLimit bounds how much of a body is read past BodyLimit so the connection can be reused.
const drainLimit = 64 << 10

// Options configures a probe; the zero value is usable.
type Options struct {
	// Client sends the requests (default: http.DefaultTransport with a 5 s per-request timeout).
	Client *http.Client
	// Headers are added to every request; a "Host" entry sets the request's Host.
	Headers http.Header
	// Interval is the first pause between attempts (default 250ms); it doubles up to MaxInterval.
	Interval time.Duration
	// MaxInterval caps the pause between attempts (default 5s).
	MaxInterval time.Duration
	// Expect says whether a status code is healthy (default: 2xx).
	Expect func(status int) bool
}

// Result describes the last attempt of a probe.
type Result struct {
	// URL is the probed URL.
	URL string
	// Status is the last HTTP status code (0 when no answer was received).
	Status int
	// Attempts is how many requests were sent.
	Attempts int
	// Latency is how long the last request took.
	Latency time.Duration
	// Elapsed is the time from the start of the probe to its end.
	Elapsed time.Duration
	// Body is the first 512 bytes of the last response body.
	Body string
}

func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = DefaultMaxInterval
	}
	o.Interval = min(o.Interval, o.MaxInterval)
	if o.Expect == nil {
		o.Expect = func(status int) bool { return status >= 200 && status < 300 }
	}
	return o
}

// attempt is the outcome of one request.
type attempt struct {
	status     int
	statusText string // e.g. "503 Service Unavailable"
	body       string
	err        error
}

// WaitHealthy GETs rawURL until opts.Expect accepts the status or ctx is done,
// backing off between attempts; the caller bounds the wait with ctx's deadline.
func WaitHealthy(ctx context.Context, rawURL string, opts Options) (Result, error) {
	return run(ctx, rawURL, opts, true)
}

// Get makes a single attempt against rawURL and reports it like WaitHealthy.
func Get(ctx context.Context, rawURL string, opts Options) (Result, error) {
	return run(ctx, rawURL, opts, false)
}

func run(ctx context.Context, rawURL string, opts Options, retry bool) (Result, error) {
	res := Result{URL: rawURL}
	if err := checkURL(rawURL); err != nil {
		return res, fmt.Errorf("health check %s: %w", rawURL, err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("health check %s: not started: %w", rawURL, err)
	}
	opts = opts.withDefaults()
	start := time.Now()
	wait := opts.Interval
	var last attempt
	for {
		t0 := time.Now()
		a := do(ctx, rawURL, opts)
		res.Attempts++
		res.Latency = time.Since(t0)
		// A request cut short by ctx says nothing about the server: keep the previous answer.
		if a.err == nil || ctx.Err() == nil || res.Attempts == 1 {
			last = a
		}
		res.Status, res.Body = last.status, last.body
		if a.err == nil && opts.Expect(a.status) {
			res.Elapsed = time.Since(start)
			return res, nil
		}
		if !retry || ctx.Err() != nil {
			break
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
		wait = min(2*wait, opts.MaxInterval)
	}
	res.Elapsed = time.Since(start)
	return res, failure(rawURL, res, last)
}

// failure builds the error for a probe that ended without a healthy answer.
func failure(rawURL string, res Result, last attempt) error {
	plural := "s"
	if res.Attempts == 1 {
		plural = ""
	}
	prefix := fmt.Sprintf("health check %s: not healthy after %d attempt%s in %s", rawURL, res.Attempts, plural, roundDuration(res.Elapsed))
	if last.err != nil {
		return fmt.Errorf("%s: last error: %w", prefix, last.err)
	}
	msg := prefix + ": last answer " + last.statusText
	if s := snippet(last.body); s != "" {
		msg += ": " + s
	}
	return errors.New(msg)
}

// do sends one GET and reads the start of the body.
func do(ctx context.Context, rawURL string, opts Options) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return attempt{err: err}
	}
	for k, vs := range opts.Headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the message
		}
		return attempt{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, BodyLimit))
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	text := resp.Status
	if text == "" || !strings.HasPrefix(text, fmt.Sprint(resp.StatusCode)) {
		text = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return attempt{status: resp.StatusCode, statusText: strings.TrimSpace(text), body: string(body)}
}

// checkURL rejects URLs that can never be probed, so WaitHealthy fails at once.
func checkURL(rawURL string) error {
	if strings.TrimSpace(rawURL) == "" {
		return errors.New("empty URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("invalid URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return errors.New("invalid URL: missing scheme (want http:// or https://)")
	default:
		return fmt.Errorf("invalid URL: unsupported scheme %q (want http or https)", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("invalid URL: missing host")
	}
	return nil
}

// snippet makes a body printable on one line.
func snippet(body string) string {
	s := strings.ToValidUTF8(body, "")
	s = strings.Join(strings.Fields(s), " ")
	return s
}

// roundDuration keeps messages readable: 30s, 1.5s, 120ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}
