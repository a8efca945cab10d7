// Package mcpcheck checks an MCP server over Streamable HTTP with the
// official go-sdk client: it connects (initialize + notifications/initialized,
// or server/discover on servers of the newest revision), lists the tools and
// checks that the expected ones are there.
package mcpcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configures a check.
type Options struct {
	// Endpoint is the absolute URL of the MCP endpoint (e.g. https://host/mcp).
	Endpoint string
	// HTTPClient sends every request (headers, TLS and timeouts apply); default http.DefaultClient.
	HTTPClient *http.Client
	// Headers are added to every request.
	Headers http.Header
	// ExpectTools must all be returned by tools/list.
	ExpectTools []string
	// Timeout bounds the whole check (default 30s).
	Timeout time.Duration
	// ClientName and ClientVersion are sent as clientInfo (default "erlmcp-smoke", "dev").
	ClientName, ClientVersion string
}

// Result describes what the server said.
type Result struct {
	Endpoint        string        `json:"endpoint"`
	ProtocolVersion string        `json:"protocol_version"`
	ServerName      string        `json:"server_name"`
	ServerVersion   string        `json:"server_version"`
	SessionID       string        `json:"session_id,omitempty"`
	Tools           []string      `json:"tools"`
	Missing         []string      `json:"missing,omitempty"`
	Requests        int           `json:"requests"`
	Latency         time.Duration `json:"latency"`     // the whole check
	MaxLatency      time.Duration `json:"max_latency"` // the slowest HTTP request
}

// MissingToolsError says which expected tools tools/list did not return.
type MissingToolsError struct {
	Missing, Offered []string
}

func (e *MissingToolsError) Error() string {
	offered := "none"
	if len(e.Offered) > 0 {
		offered = strings.Join(e.Offered, ", ")
	}
	return fmt.Sprintf("tools/list lacks expected tool(s) %s (server offers: %s)", strings.Join(e.Missing, ", "), offered)
}

// Check connects to the MCP server, lists its tools and checks the expected ones.
func Check(ctx context.Context, opts Options) (res Result, err error) {
	res.Endpoint = opts.Endpoint
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.ClientName == "" {
		opts.ClientName = "erlmcp-smoke"
	}
	if opts.ClientVersion == "" {
		opts.ClientVersion = "dev"
	}
	base := opts.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	rec := &recorder{next: base.Transport, headers: opts.Headers}
	if rec.next == nil {
		rec.next = http.DefaultTransport
	}
	hc := *base
	hc.Transport = rec

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	start := time.Now()
	defer func() {
		res.Latency = time.Since(start)
		res.Requests, res.MaxLatency = rec.stats()
	}()

	client := mcp.NewClient(&mcp.Implementation{Name: opts.ClientName, Version: opts.ClientVersion}, nil)
	transport := &mcp.StreamableClientTransport{Endpoint: opts.Endpoint, HTTPClient: &hc, DisableStandaloneSSE: true, MaxRetries: -1}
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return res, fmt.Errorf("MCP connect to %s: %w", opts.Endpoint, rec.explain(err))
	}
	defer cs.Close()
	if ir := cs.InitializeResult(); ir != nil {
		res.ProtocolVersion = ir.ProtocolVersion
		if ir.ServerInfo != nil {
			res.ServerName, res.ServerVersion = ir.ServerInfo.Name, ir.ServerInfo.Version
		}
	}
	res.SessionID = cs.ID()
	res.Tools = []string{}
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return res, fmt.Errorf("MCP tools/list at %s: %w", opts.Endpoint, rec.explain(err))
		}
		res.Tools = append(res.Tools, tool.Name)
	}
	for _, want := range opts.ExpectTools {
		if !slices.Contains(res.Tools, want) {
			res.Missing = append(res.Missing, want)
		}
	}
	if len(res.Missing) > 0 {
		return res, &MissingToolsError{Missing: res.Missing, Offered: res.Tools}
	}
	return res, nil
}

// recorder adds headers, times each request and remembers the last answer
// that was not an MCP answer, so errors can say what the server really said.
type recorder struct {
	next    http.RoundTripper
	headers http.Header

	mu       sync.Mutex
	requests int
	slowest  time.Duration
	bad      string // e.g. `POST answered 404 Not Found (text/plain): no such path`
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(r.headers) > 0 {
		req = req.Clone(req.Context())
		for k, vs := range r.headers {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	}
	t0 := time.Now()
	resp, err := r.next.RoundTrip(req)
	d := time.Since(t0)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.slowest = max(r.slowest, d)
	if err != nil {
		return resp, err
	}
	ct := resp.Header.Get("Content-Type")
	mcpType := strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/event-stream")
	if resp.StatusCode >= 400 || (resp.StatusCode < 300 && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent && !mcpType) {
		// Read a little of the body for the message and give it back whole.
		head := make([]byte, 200)
		n, _ := io.ReadFull(resp.Body, head)
		head = head[:n]
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		if ct == "" {
			ct = "no content type"
		}
		msg := fmt.Sprintf("%s answered %s (%s)", req.Method, resp.Status, ct)
		if s := strings.Join(strings.Fields(strings.ToValidUTF8(string(head), "")), " "); s != "" {
			msg += ": " + s
		}
		r.bad = msg
	} else if mcpType {
		r.bad = "" // an MCP answer: what failed before (e.g. a 400 to server/discover) is history
	}
	return resp, nil
}

func (r *recorder) stats() (int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.slowest
}

// explain puts what the server last answered in front of the SDK's error.
func (r *recorder) explain(err error) error {
	r.mu.Lock()
	bad := r.bad
	r.mu.Unlock()
	if bad == "" {
		return err
	}
	return &answerError{answer: bad, err: err}
}

type answerError struct {
	answer string
	err    error
}

func (e *answerError) Error() string {
	return fmt.Sprintf("not an MCP server answer: %s (client error: %v)", e.answer, e.err)
}

func (e *answerError) Unwrap() error { return e.err }

// IsMissingTools reports whether err is about expected tools that are absent.
func IsMissingTools(err error) bool {
	var m *MissingToolsError
	return errors.As(err, &m)
}
