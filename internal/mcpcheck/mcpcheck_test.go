package mcpcheck_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	mcpgoserver "github.com/mark3labs/mcp-go/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/mcpcheck"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// mcpGoServer is a mark3labs/mcp-go Streamable HTTP server (JSON replies).
func mcpGoServer(t *testing.T, tools ...string) *httptest.Server {
	s := mcpgoserver.NewMCPServer("mcp-go-erlmcp", "1.2.3", mcpgoserver.WithToolCapabilities(true))
	for _, name := range tools {
		s.AddTool(mcpgo.NewTool(name, mcpgo.WithDescription("tool "+name), mcpgo.WithString("text")),
			func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
				return mcpgo.NewToolResultText(name), nil
			})
	}
	srv := httptest.NewServer(mcpgoserver.NewStreamableHTTPServer(s))
	t.Cleanup(srv.Close)
	return srv
}

func TestGoSDKServer(t *testing.T) {
	srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{Name: "erlmcp", Version: "3.1.0"}))
	defer srv.Close()
	var sawAuth bool
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sawAuth = sawAuth || r.Header.Get("Authorization") == "Bearer s3cret"
		return http.DefaultTransport.RoundTrip(r)
	})}
	res, err := mcpcheck.Check(ctx(t), mcpcheck.Options{
		Endpoint: srv.URL + "/mcp", HTTPClient: client, ExpectTools: []string{"echo", "add"},
		Headers: http.Header{"Authorization": {"Bearer s3cret"}},
	})
	require.NoError(t, err)
	assert.Equal(t, "erlmcp", res.ServerName)
	assert.Equal(t, "3.1.0", res.ServerVersion)
	assert.NotEmpty(t, res.ProtocolVersion)
	assert.ElementsMatch(t, []string{"echo", "add"}, res.Tools)
	assert.True(t, sawAuth, "our HTTP client and headers are used")
	assert.Positive(t, res.Requests)
	assert.Positive(t, res.MaxLatency)
	assert.NotEmpty(t, res.SessionID, "the go-sdk server hands out a session id")
	t.Logf("go-sdk: protocol %s, session %q, %d requests", res.ProtocolVersion, res.SessionID, res.Requests)
}

func TestMCPGoServerJSONReplies(t *testing.T) {
	srv := mcpGoServer(t, "echo", "add")
	res, err := mcpcheck.Check(ctx(t), mcpcheck.Options{Endpoint: srv.URL + "/mcp", ExpectTools: []string{"echo", "add"}})
	require.NoError(t, err)
	assert.Equal(t, "mcp-go-erlmcp", res.ServerName)
	assert.Equal(t, "1.2.3", res.ServerVersion)
	assert.NotEmpty(t, res.ProtocolVersion)
	t.Logf("mcp-go: protocol %s, session %q", res.ProtocolVersion, res.SessionID)
	assert.ElementsMatch(t, []string{"echo", "add"}, res.Tools)
}

func TestMissingTool(t *testing.T) {
	for name, url := range map[string]string{
		"go-sdk": func() string {
			srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{Tools: []string{"echo"}}))
			t.Cleanup(srv.Close)
			return srv.URL
		}(),
		"mcp-go": mcpGoServer(t, "echo").URL,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := mcpcheck.Check(ctx(t), mcpcheck.Options{Endpoint: url + "/mcp", ExpectTools: []string{"echo", "add", "subtract"}})
			require.Error(t, err)
			assert.True(t, mcpcheck.IsMissingTools(err))
			assert.Equal(t, "tools/list lacks expected tool(s) add, subtract (server offers: echo)", err.Error())
			assert.Equal(t, []string{"add", "subtract"}, res.Missing)
		})
	}
}

func TestNotAnMCPServer(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string
	}{
		{"404", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no route /mcp", http.StatusNotFound) },
			[]string{"not an MCP server answer: POST answered 404 Not Found (text/plain; charset=utf-8): no route /mcp"}},
		{"500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
			[]string{"POST answered 500 Internal Server Error", ": boom"}},
		{"html 200", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html><body>login page</body></html>")
		}, []string{"POST answered 200 OK (text/html): <html><body>login page</body></html>"}},
		{"401", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "missing token", http.StatusUnauthorized) },
			[]string{"401 Unauthorized", "missing token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := mcpcheck.Check(ctx(t), mcpcheck.Options{Endpoint: srv.URL + "/mcp", Timeout: 5 * time.Second})
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "MCP connect to "+srv.URL+"/mcp: "), err.Error())
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := mcpcheck.Check(ctx(t), mcpcheck.Options{Endpoint: url + "/mcp", Timeout: 5 * time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connection refused")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
