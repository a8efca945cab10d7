package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/backoff"
)

// DefaultBodyLimit is how much of an answer a check reads at most.
const DefaultBodyLimit = 10 << 20

// Runner sends checks.
type Runner struct {
	// Client sends the requests (TLS, redirects, timeouts); default http.DefaultClient.
	Client *http.Client
	// BaseURL is what a check's path is relative to.
	BaseURL string
	// Headers are sent with every request (a check's own headers win).
	Headers http.Header
	// MaxTime is the latency limit of a check without expect.max-time (0: none).
	MaxTime time.Duration
	// BodyLimit caps how much of an answer is read (default 10 MiB); a larger body fails the check.
	BodyLimit int64
	// Sleep waits between retries (tests may replace it); default honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Outcome is the result of one check (its last attempt).
type Outcome struct {
	Name     string
	Passed   bool
	Status   int
	Attempts int
	Latency  time.Duration
	Detail   string
}

// Run runs c (with its retries) and reports the last attempt.
func (r *Runner) Run(ctx context.Context, c Check) Outcome {
	attempts, budget, interval := 1, time.Duration(0), time.Second
	if c.Retry != nil {
		attempts, budget = c.Retry.Attempts, time.Duration(c.Retry.Budget)
		if c.Retry.Interval > 0 {
			interval = time.Duration(c.Retry.Interval)
		}
	}
	start := time.Now()
	var out Outcome
	for i := 1; ; i++ {
		out = r.once(ctx, c)
		out.Attempts = i
		if out.Passed || ctx.Err() != nil {
			break
		}
		if attempts > 0 && i >= attempts {
			break
		}
		if budget > 0 && time.Since(start)+interval > budget {
			break
		}
		if attempts == 0 && budget == 0 {
			break
		}
		if err := r.sleep(ctx, interval); err != nil {
			break
		}
	}
	if !out.Passed && out.Attempts > 1 {
		out.Detail = fmt.Sprintf("after %d attempts in %s: %s", out.Attempts, time.Since(start).Round(time.Millisecond), out.Detail)
	}
	return out
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return backoff.Sleep(ctx, d)
}

// URL is where c is sent.
func (r *Runner) URL(c Check) string {
	if c.URL != "" {
		return c.URL
	}
	return strings.TrimRight(r.BaseURL, "/") + c.Path
}

func (r *Runner) once(ctx context.Context, c Check) Outcome {
	out := Outcome{Name: c.Name}
	fail := func(format string, args ...any) Outcome {
		out.Detail = fmt.Sprintf(format, args...)
		return out
	}
	var body io.Reader
	var contentType string
	switch {
	case c.JSON != nil:
		b, err := json.Marshal(c.JSON)
		if err != nil {
			return fail("json body: %v", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case c.Body != "":
		body = strings.NewReader(c.Body)
	}
	target := r.URL(c)
	req, err := http.NewRequestWithContext(ctx, c.Method, target, body)
	if err != nil {
		return fail("%v", err)
	}
	for k, vs := range r.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range c.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		out.Latency = time.Since(t0)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail("%s %s: %v", c.Method, target, err)
	}
	defer resp.Body.Close()
	limit := r.BodyLimit
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	data, err := ReadLimited(resp.Body, limit)
	out.Latency = time.Since(t0)
	out.Status = resp.StatusCode
	if err != nil {
		return fail("%s %s: %v", c.Method, target, err)
	}
	var problems []string
	want := c.Expect.Status
	if len(want) == 0 {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			problems = append(problems, fmt.Sprintf("status %d, want 2xx", resp.StatusCode))
		}
	} else if !containsInt(want, resp.StatusCode) {
		problems = append(problems, fmt.Sprintf("status %d, want %s", resp.StatusCode, joinInts(want)))
	}
	if maxTime := time.Duration(c.Expect.MaxTime); maxTime > 0 || r.MaxTime > 0 {
		if maxTime == 0 {
			maxTime = r.MaxTime
		}
		if out.Latency > maxTime {
			problems = append(problems, fmt.Sprintf("took %s, over max-time %s", out.Latency.Round(time.Millisecond), maxTime))
		}
	}
	names := make([]string, 0, len(c.Expect.Headers))
	for k := range c.Expect.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := c.Expect.Headers[k]
		got, ok := resp.Header[http.CanonicalHeaderKey(k)]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("header %s missing", k))
		case !strings.Contains(strings.Join(got, ", "), v):
			problems = append(problems, fmt.Sprintf("header %s is %q, want it to contain %q", k, strings.Join(got, ", "), v))
		}
	}
	if len(c.Expect.JSON) > 0 {
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			problems = append(problems, fmt.Sprintf("body is not JSON: %v: %s", err, snippet(data)))
		} else {
			for _, a := range c.Expect.JSON {
				if err := a.Eval(doc); err != nil {
					problems = append(problems, err.Error())
				}
			}
		}
	}
	if len(problems) > 0 {
		return fail("%s", strings.Join(problems, "; "))
	}
	out.Passed = true
	out.Detail = fmt.Sprintf("%s %s → %d", c.Method, target, resp.StatusCode)
	return out
}

// ErrBodyTooLarge is returned by ReadLimited for a body over the limit.
var ErrBodyTooLarge = errors.New("body too large")

// ReadLimited reads at most limit bytes of r; a longer body is an error
// wrapping ErrBodyTooLarge (and is not read further).
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return data, fmt.Errorf("read body: %w", err)
	}
	if int64(len(data)) > limit {
		return data[:limit], fmt.Errorf("%w: more than %s, stopped reading", ErrBodyTooLarge, byteSize(limit))
	}
	return data, nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Eval checks the assertion against a decoded JSON document.
func (a Assertion) Eval(doc any) error {
	x := a.expr
	if x == nil {
		var err error
		if x, err = parsePath(a.Path); err != nil {
			return err
		}
	}
	got := x.Get(doc)
	switch a.Op {
	case "exists":
		if len(got) == 0 {
			return fmt.Errorf("%s does not exist", a.Path)
		}
		return nil
	case "not-exists":
		if len(got) > 0 {
			return fmt.Errorf("%s exists (%s), want it absent", a.Path, show(got[0]))
		}
		return nil
	}
	if len(got) == 0 {
		return fmt.Errorf("%s does not exist (want %s %s)", a.Path, a.Op, show(a.Value))
	}
	v := got[0]
	want := normalize(a.Value)
	fail := func() error { return fmt.Errorf("%s is %s, want %s %s", a.Path, show(v), a.Op, show(want)) }
	switch a.Op {
	case "==":
		if !reflect.DeepEqual(v, want) {
			return fail()
		}
	case "!=":
		if reflect.DeepEqual(v, want) {
			return fail()
		}
	case "<", "<=", ">", ">=":
		c, ok := compare(v, want)
		if !ok {
			return fmt.Errorf("%s is %s, cannot compare with %s", a.Path, show(v), show(want))
		}
		pass := map[string]bool{"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[a.Op]
		if !pass {
			return fail()
		}
	case "matches":
		re := a.re
		if re == nil {
			return fmt.Errorf("%s: matches needs a regular expression", a.Path)
		}
		s, ok := v.(string)
		if !ok {
			s = show(v)
		}
		if !re.MatchString(s) {
			return fail()
		}
	case "contains":
		switch g := v.(type) {
		case string:
			if ws, ok := want.(string); !ok || !strings.Contains(g, ws) {
				return fail()
			}
		case []any:
			found := false
			for _, e := range g {
				found = found || reflect.DeepEqual(e, want)
			}
			if !found {
				return fail()
			}
		default:
			return fail()
		}
	default:
		return fmt.Errorf("unknown op %q", a.Op)
	}
	return nil
}

// normalize turns a YAML value into what encoding/json would decode.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	}
	return 0, false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "")), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " or ")
}
