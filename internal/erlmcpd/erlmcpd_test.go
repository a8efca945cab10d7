package erlmcpd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	s := erlmcpd.New(erlmcpd.Options{FailFirst: 1, StatusCodes: map[string]int{"/health/ready": 500}})
	srv := httptest.NewServer(s)
	defer srv.Close()

	code, _ := get(t, srv.URL+"/health")
	assert.Equal(t, 503, code, "FailFirst")
	code, body := get(t, srv.URL+"/health")
	assert.Equal(t, 200, code)
	var h erlmcpd.Health
	require.NoError(t, json.Unmarshal([]byte(body), &h))
	assert.Equal(t, "healthy", h.Status)
	assert.Equal(t, 3, h.Summary.Total)

	s.SetStatus(erlmcpd.Degraded)
	_, body = get(t, srv.URL+"/health")
	assert.Contains(t, body, `"status":"degraded"`)

	code, _ = get(t, srv.URL+"/health/ready")
	assert.Equal(t, 500, code)
	code, _ = get(t, srv.URL+"/health/live")
	assert.Equal(t, 200, code)
	code, _ = get(t, srv.URL+"/dashboard")
	assert.Equal(t, 200, code)

	code, body = get(t, srv.URL+"/metrics")
	assert.Equal(t, 200, code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	assert.Contains(t, fams, "erlmcp_requests_total")
	assert.Contains(t, fams, "erlmcp_sessions_active")
	assert.Contains(t, fams, "go_goroutines")

	resp, err := http.Post(srv.URL+"/api/echo?x=1", "application/json", strings.NewReader(`{"a":[1,2]}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var echo map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&echo))
	assert.Equal(t, "POST", echo["method"])
	assert.Equal(t, map[string]any{"a": []any{1.0, 2.0}}, echo["json"])
	assert.Equal(t, map[string]any{"x": "1"}, echo["query"])
}

func TestLatency(t *testing.T) {
	s := erlmcpd.New(erlmcpd.Options{Latency: 50 * time.Millisecond})
	srv := httptest.NewServer(s)
	defer srv.Close()
	t0 := time.Now()
	get(t, srv.URL+"/health/live")
	assert.GreaterOrEqual(t, time.Since(t0), 50*time.Millisecond)
}

// TestCommand builds test/erlmcpd, starts it on a free loopback port and stops it.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "erlmcpd")
	out, err := exec.Command("go", "build", "-o", bin, "../../test/erlmcpd").CombinedOutput()
	require.NoError(t, err, string(out))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0", "-status", "degraded")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	url := strings.TrimSpace(line)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, url)
	_, body := get(t, url+"/health")
	assert.Contains(t, body, `"status":"degraded"`)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	assert.NoError(t, cmd.Wait())

	bad := exec.Command(bin, "-status", "sick")
	out, err = bad.CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), `-status "sick": want healthy, degraded or unhealthy`)
}
