// Package erlmcpd is an erlmcp-like HTTP server for tests, the demo and the
// pipeline end-to-end runs: erlmcp's health JSON, readiness and liveness,
// Prometheus metrics from a real client_golang registry, a real MCP server
// (the official go-sdk over Streamable HTTP), a dashboard and a JSON echo
// endpoint, with knobs to inject faults (latency, status codes, a server that
// only becomes healthy after a few answers).
package erlmcpd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health statuses of erlmcp's /health JSON.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// DefaultTools are the MCP tools served when Options.Tools is nil.
var DefaultTools = []string{"echo", "add"}

// Options configures a Server; the zero value is a healthy erlmcp with the
// default tools.
type Options struct {
	// Status is the /health status: healthy (default), degraded or unhealthy.
	Status string
	// Tools are the MCP tool names; "echo" and "add" have real behaviour, any
	// other name answers with its own name. nil means DefaultTools; an empty,
	// non-nil slice serves no tools.
	Tools []string
	// Name and Version are the MCP serverInfo (default "erlmcp", "0.0.0-test").
	Name, Version string
	// Latency delays every answer; PathLatency delays answers of one path.
	Latency     time.Duration
	PathLatency map[string]time.Duration
	// FailFirst makes the first FailFirst requests to /health answer 503.
	FailFirst int
	// StatusCodes forces the status code of a path (e.g. {"/health/ready": 500}).
	StatusCodes map[string]int
	// Bodies replaces the body of a path (e.g. a malformed /metrics or /health).
	Bodies map[string]string
}

// Server is the erlmcp-like handler.
type Server struct {
	mux      *http.ServeMux
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	sessions prometheus.Gauge

	mu     sync.Mutex
	opts   Options
	health atomic.Int64 // /health requests so far
}

// New returns the server described by opts.
func New(opts Options) *Server {
	if opts.Status == "" {
		opts.Status = Healthy
	}
	if opts.Tools == nil {
		opts.Tools = DefaultTools
	}
	if opts.Name == "" {
		opts.Name = "erlmcp"
	}
	if opts.Version == "" {
		opts.Version = "0.0.0-test"
	}
	s := &Server{mux: http.NewServeMux(), registry: prometheus.NewRegistry(), opts: opts}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "erlmcp_requests_total", Help: "HTTP requests served, by path and status code.",
	}, []string{"path", "code"})
	s.sessions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "erlmcp_sessions_active", Help: "MCP sessions currently open.",
	})
	s.registry.MustRegister(s.requests, s.sessions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.mux.HandleFunc("/health", s.serveHealth)
	s.mux.HandleFunc("/health/ready", s.serveOK("ready"))
	s.mux.HandleFunc("/health/live", s.serveOK("live"))
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.mux.Handle("/mcp", s.mcpHandler())
	s.mux.HandleFunc("/dashboard", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>erlmcp dashboard</title><h1>erlmcp</h1>\n")
	})
	s.mux.HandleFunc("/api/echo", serveEcho)
	return s
}

// Registry is the Prometheus registry behind /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// SetStatus changes the /health status.
func (s *Server) SetStatus(status string) {
	s.mu.Lock()
	s.opts.Status = status
	s.mu.Unlock()
}

// SetLatency changes the delay of every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.opts.Latency = d
	s.mu.Unlock()
}

func (s *Server) options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// ServeHTTP applies the configured faults, then serves the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o := s.options()
	if d := o.Latency + o.PathLatency[r.URL.Path]; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() { s.requests.WithLabelValues(metricPath(r.URL.Path), fmt.Sprint(rec.code)).Inc() }()
	if code, ok := o.StatusCodes[r.URL.Path]; ok {
		rec.WriteHeader(code)
		_, _ = fmt.Fprintf(rec, "%d %s\n", code, http.StatusText(code))
		return
	}
	if body, ok := o.Bodies[r.URL.Path]; ok {
		if strings.HasPrefix(r.URL.Path, "/metrics") {
			rec.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		} else if strings.HasPrefix(r.URL.Path, "/health") {
			rec.Header().Set("Content-Type", "application/json")
		}
		_, _ = io.WriteString(rec, body)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

func metricPath(p string) string {
	switch p {
	case "/health", "/health/ready", "/health/live", "/metrics", "/mcp", "/dashboard", "/api/echo":
		return p
	}
	return "other"
}

// HealthCheck is one subsystem entry of the /health JSON.
type HealthCheck struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Health is erlmcp's /health JSON.
type Health struct {
	Status  string        `json:"status"`
	Checks  []HealthCheck `json:"checks"`
	Summary struct {
		Total     int `json:"total"`
		Healthy   int `json:"healthy"`
		Unhealthy int `json:"unhealthy"`
	} `json:"summary"`
}

// HealthFor returns the /health document erlmcpd serves for status.
func HealthFor(status string) Health {
	h := Health{Status: status, Checks: []HealthCheck{
		{Name: "registry", Status: Healthy, Message: "gproc registry up"},
		{Name: "session_manager", Status: Healthy, Message: "0 sessions"},
		{Name: "transport_http", Status: Healthy, Message: "listening"},
	}}
	switch status {
	case Degraded:
		h.Checks[1] = HealthCheck{Name: "session_manager", Status: Degraded, Message: "session table 92% full"}
	case Unhealthy:
		h.Checks[0] = HealthCheck{Name: "registry", Status: Unhealthy, Message: "registry process down"}
	}
	for _, c := range h.Checks {
		h.Summary.Total++
		if c.Status == Healthy {
			h.Summary.Healthy++
		} else if c.Status == Unhealthy {
			h.Summary.Unhealthy++
		}
	}
	return h
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	o := s.options()
	n := s.health.Add(1)
	status := o.Status
	if n <= int64(o.FailFirst) {
		status = Unhealthy
	}
	w.Header().Set("Content-Type", "application/json")
	if status == Unhealthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(HealthFor(status))
}

func (s *Server) serveOK(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, "{\"status\":\"ok\",\"check\":%q}\n", what)
	}
}

// serveEcho answers with what it was sent: method, path, query, headers and
// the body (parsed when it is JSON).
func serveEcho(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	headers := map[string]string{}
	for k := range r.Header {
		headers[k] = r.Header.Get(k)
	}
	query := map[string]string{}
	for k := range r.URL.Query() {
		query[k] = r.URL.Query().Get(k)
	}
	out := map[string]any{"method": r.Method, "path": r.URL.Path, "query": query, "headers": headers}
	var parsed any
	if len(raw) > 0 {
		if json.Unmarshal(raw, &parsed) == nil {
			out["json"] = parsed
		}
		out["body"] = string(raw)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Erlmcp-Echo", "1")
	_ = json.NewEncoder(w).Encode(out)
}

// EchoIn is the input of the echo tool.
type EchoIn struct {
	Text string `json:"text" jsonschema:"text to echo back"`
}

// AddIn is the input of the add tool.
type AddIn struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

// AddOut is the output of the add tool.
type AddOut struct {
	Sum float64 `json:"sum"`
}

// NewMCPServer returns the go-sdk MCP server with the named tools.
func NewMCPServer(name, version string, tools []string) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: name, Version: version}, nil)
	for _, t := range tools {
		switch t {
		case "echo":
			mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Echo the text back."},
				func(_ context.Context, _ *mcp.CallToolRequest, in EchoIn) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
				})
		case "add":
			mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "Add two numbers."},
				func(_ context.Context, _ *mcp.CallToolRequest, in AddIn) (*mcp.CallToolResult, AddOut, error) {
					return nil, AddOut{Sum: in.A + in.B}, nil
				})
		default:
			name := t
			mcp.AddTool(srv, &mcp.Tool{Name: name, Description: "Test tool " + name + "."},
				func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
				})
		}
	}
	return srv
}

func (s *Server) mcpHandler() http.Handler {
	srv := NewMCPServer(s.opts.Name, s.opts.Version, s.opts.Tools)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		had := r.Header.Get("Mcp-Session-Id") != ""
		h.ServeHTTP(w, r)
		switch {
		case r.Method == http.MethodDelete && had:
			s.sessions.Dec()
		case !had && w.Header().Get("Mcp-Session-Id") != "":
			s.sessions.Inc()
		}
	})
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(p)
}

// Flush lets streamed (SSE) answers through.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
