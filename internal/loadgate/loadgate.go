// Package loadgate puts an HTTP endpoint under load for a fixed time and
// holds the result to gates (latency percentiles, throughput, error rate).
//
// Two models: closed loop (Concurrency workers, each sending its next request
// when the previous answer arrived) and constant rate (Rate requests per
// second, each latency measured from the request's intended send time, so a
// stalled server is not hidden by the load generator waiting for it:
// coordinated omission). Latencies go into an HDR histogram.
//
// Like wrk, each worker owns one keep-alive HTTP/1.1 connection and sends its
// requests over it without net/http's per-connection goroutines, and reads
// the common answer (HTTP/1.1 with a Content-Length) in place without
// allocating; any other answer is parsed by net/http. So on a small runner
// the gate spends little of the CPU the server needs; BENCHMARKS.md compares
// it with wrk.
//
// The run is bounded: it always stops at Duration plus a short drain, and it
// never sends more than MaxRequests requests.
package loadgate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	// DefaultConcurrency is the number of workers when Options.Concurrency is 0.
	DefaultConcurrency = 10
	// DefaultMaxRequests caps the requests of one run when Options.MaxRequests is 0.
	DefaultMaxRequests = 5_000_000
	// DefaultDrain is how long in-flight requests may finish after Duration.
	DefaultDrain = 2 * time.Second
	// MaxDuration bounds Duration.
	MaxDuration = time.Hour
	// bodyLimit caps what is read of each answer (the rest is dropped with the connection).
	bodyLimit = 1 << 20
	// highest latency the histogram records exactly (longer ones are clamped).
	maxTrackable = time.Hour
)

// Closed-loop and constant-rate run modes.
const (
	ClosedLoop   = "closed-loop"
	ConstantRate = "constant-rate"
)

// Options describes a run.
type Options struct {
	// URL is requested with Method (default GET) and Headers.
	URL     string
	Method  string
	Headers http.Header
	// Transport supplies TLS settings, a dialer and a proxy (default: none).
	// Each worker keeps its own keep-alive connection, as wrk does; behind a
	// proxy the requests go through net/http instead. Redirects are not
	// followed: a 3xx is an answer like any other.
	Transport *http.Transport
	// RequestTimeout bounds one request (0: only the run's end and drain do).
	RequestTimeout time.Duration
	// Duration is how long requests are started.
	Duration time.Duration
	// Concurrency is the number of workers (default 10); at a constant rate it
	// is the most requests in flight, and a slow server delays the next sends,
	// which shows up as latency.
	Concurrency int
	// Rate, when > 0, selects the constant-rate model (requests per second).
	Rate float64
	// MaxRequests caps the requests sent (default 5,000,000).
	MaxRequests int64
	// Drain is how long in-flight requests may finish after Duration (default 2s).
	Drain time.Duration
	// OK says whether a status code counts as success (default: 2xx).
	OK func(status int) bool
}

// Gates are the limits a run is held to; zero values are not checked.
type Gates struct {
	P50, P95, P99 time.Duration
	MinRPS        float64
	// MaxErrorRate (0..1) is checked when non-nil, so 0 means "no errors at all".
	MaxErrorRate *float64
}

// Result is what a run measured.
type Result struct {
	Mode        string         `json:"mode"`
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Rate        float64        `json:"rate,omitempty"`
	Elapsed     time.Duration  `json:"elapsed"`
	Requests    int64          `json:"requests"`
	Errors      int64          `json:"errors"`
	Capped      bool           `json:"capped,omitempty"`
	RPS         float64        `json:"rps"`
	ErrorRate   float64        `json:"error_rate"`
	P50         time.Duration  `json:"p50"`
	P95         time.Duration  `json:"p95"`
	P99         time.Duration  `json:"p99"`
	Max         time.Duration  `json:"max"`
	Mean        time.Duration  `json:"mean"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	Violations  []string       `json:"violations,omitempty"`
}

// Passed reports whether no gate was violated.
func (r *Result) Passed() bool { return len(r.Violations) == 0 }

// Check compares the result with the gates and records (and returns) the violations.
func (r *Result) Check(g Gates) []string {
	var v []string
	lat := func(name string, got, limit time.Duration) {
		if limit > 0 && got > limit {
			v = append(v, fmt.Sprintf("%s %s > %s", name, roundDur(got), limit))
		}
	}
	lat("p50", r.P50, g.P50)
	lat("p95", r.P95, g.P95)
	lat("p99", r.P99, g.P99)
	if g.MinRPS > 0 && r.RPS < g.MinRPS {
		v = append(v, fmt.Sprintf("throughput %.1f req/s < %g req/s", r.RPS, g.MinRPS))
	}
	if g.MaxErrorRate != nil && r.ErrorRate > *g.MaxErrorRate {
		v = append(v, fmt.Sprintf("error rate %.2f%% > %g%% (%d of %d requests failed%s)",
			100*r.ErrorRate, 100**g.MaxErrorRate, r.Errors, r.Requests, r.kindsText()))
	}
	if r.Requests == 0 {
		v = append(v, "no request completed")
	}
	r.Violations = v
	return v
}

func (r *Result) kindsText() string {
	if len(r.ErrorKinds) == 0 {
		return ""
	}
	type kv struct {
		k string
		n int
	}
	var kinds []kv
	for k, n := range r.ErrorKinds {
		kinds = append(kinds, kv{k, n})
	}
	sort.Slice(kinds, func(i, j int) bool {
		return kinds[i].n > kinds[j].n || (kinds[i].n == kinds[j].n && kinds[i].k < kinds[j].k)
	})
	parts := []string{}
	for i, x := range kinds {
		if i == 3 {
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", x.n, x.k))
	}
	return ": " + strings.Join(parts, ", ")
}

// Run loads opts.URL for opts.Duration and returns what it measured. Errors
// are only about the options; failed requests are counted in the result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	res := &Result{Mode: ClosedLoop, URL: opts.URL, Concurrency: opts.Concurrency, ErrorKinds: map[string]int{}}
	if opts.Rate > 0 {
		res.Mode, res.Rate = ConstantRate, opts.Rate
	}

	start := time.Now()
	end := start.Add(opts.Duration)
	// Requests still in flight at end+drain are cut off (and counted as errors).
	hardCtx, cancel := context.WithDeadline(ctx, end.Add(opts.Drain))
	defer cancel()

	var issued atomic.Int64 // requests started (cap) or, at a constant rate, send slots taken
	workers := make([]*worker, opts.Concurrency)
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if opts.Rate > 0 {
		interval = time.Duration(float64(time.Second) / opts.Rate)
	}
	for i := range workers {
		w := &worker{hist: hdrhistogram.New(1, maxTrackable.Microseconds(), 3), kinds: map[string]int{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One request per worker, sent again and again (GET, no body): less garbage per request.
			snd, err := newSender(hardCtx, opts)
			if err != nil {
				w.record(0, 0, err, opts.OK)
				return
			}
			defer snd.close()
			for {
				if ctx.Err() != nil {
					return
				}
				n := issued.Add(1)
				if n > opts.MaxRequests {
					w.capped = true
					return
				}
				var intended time.Time
				if interval > 0 {
					intended = start.Add(time.Duration(n-1) * interval)
					if !intended.Before(end) {
						return
					}
					if d := time.Until(intended); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-ctx.Done():
							t.Stop()
							return
						case <-t.C:
						}
					}
				} else {
					intended = time.Now()
					if !intended.Before(end) {
						return
					}
				}
				status, err := snd.send(hardCtx)
				done := time.Now()
				w.record(done.Sub(intended), status, err, opts.OK)
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)

	hist := hdrhistogram.New(1, maxTrackable.Microseconds(), 3)
	for _, w := range workers {
		hist.Merge(w.hist)
		res.Requests += w.requests
		res.Errors += w.errors
		res.Capped = res.Capped || w.capped
		for k, n := range w.kinds {
			res.ErrorKinds[k] += n
		}
	}
	if len(res.ErrorKinds) == 0 {
		res.ErrorKinds = nil
	}
	// Throughput over the load window (the drain only finishes what was started).
	window := min(res.Elapsed, opts.Duration)
	if res.Capped || window <= 0 {
		window = res.Elapsed
	}
	if window > 0 {
		res.RPS = float64(res.Requests) / window.Seconds()
	}
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Requests)
		us := func(q float64) time.Duration { return time.Duration(hist.ValueAtQuantile(q)) * time.Microsecond }
		res.P50, res.P95, res.P99 = us(50), us(95), us(99)
		res.Max = time.Duration(hist.Max()) * time.Microsecond
		res.Mean = time.Duration(hist.Mean() * float64(time.Microsecond))
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("load gate interrupted: %w", err)
	}
	return res, nil
}

type worker struct {
	hist     *hdrhistogram.Histogram
	requests int64
	errors   int64
	capped   bool
	kinds    map[string]int
}

func (w *worker) record(lat time.Duration, status int, err error, ok func(int) bool) {
	w.requests++
	us := max(lat.Microseconds(), 1)
	_ = w.hist.RecordValue(min(us, maxTrackable.Microseconds()))
	switch {
	case err != nil:
		w.errors++
		w.kinds[errKind(err)]++
	case !ok(status):
		w.errors++
		w.kinds[fmt.Sprintf("%d %s", status, http.StatusText(status))]++
	}
}

func errKind(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "cut off at the end of the drain"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial tcp") {
		s = s[i+2:]
	}
	return s
}

func newRequest(ctx context.Context, opts Options) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, opts.Method, opts.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range opts.Headers {
		if strings.EqualFold(k, "Host") {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return req, nil
}

func (o Options) validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load gate: %q is not an http(s) URL", o.URL)
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("load gate: duration %s must be in (0, %s]", o.Duration, MaxDuration)
	}
	if o.Concurrency < 0 || o.Concurrency > 10_000 {
		return fmt.Errorf("load gate: concurrency %d must be in [1, 10000]", o.Concurrency)
	}
	if o.Rate < 0 || o.Rate > 1e6 {
		return fmt.Errorf("load gate: rate %g must be in [0, 1e6] req/s", o.Rate)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Method == "" {
		o.Method = http.MethodGet
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = DefaultMaxRequests
	}
	if o.Drain <= 0 {
		o.Drain = DefaultDrain
	}
	if o.OK == nil {
		o.OK = func(s int) bool { return s >= 200 && s < 300 }
	}
	return o
}

// newClient returns a client that keeps enough idle connections for
// concurrency workers; base (may be nil) supplies TLS settings and proxy.
func newClient(concurrency int, base *http.Transport) *http.Client {
	var t *http.Transport
	if base != nil {
		t = base.Clone()
	} else {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.MaxIdleConns = max(100, 2*concurrency)
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	return &http.Client{Transport: t}
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d
}
