package smoke

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnectToBypassesTheProxyForTheServiceOnly: a runner's HTTP(S)_PROXY
// would send the service's requests to the proxy instead of the
// port-forward; connectTo exempts the service's host and port, and only them.
func TestConnectToBypassesTheProxyForTheServiceOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	tr, err := NewTransport(false, "")
	require.NoError(t, err)
	dead, _ := url.Parse("http://127.0.0.1:1")
	tr.Proxy = func(*http.Request) (*url.URL, error) { return dead, nil }
	connectTo(tr, "http://erlmcp.example.test", srv.Listener.Addr().String())
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	resp, err := c.Get("http://erlmcp.example.test/health")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, err = c.Get("http://ERLMCP.example.test:80/health")
	require.NoError(t, err, "the same host and port, spelled otherwise")
	resp.Body.Close()

	_, err = c.Get("http://erlmcp.example.test:8080/health")
	assert.ErrorContains(t, err, "127.0.0.1:1", "another port of the host goes through the proxy")
	_, err = c.Get("http://dashboard.example.test/")
	assert.ErrorContains(t, err, "127.0.0.1:1", "another host goes through the proxy")
}
