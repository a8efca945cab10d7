package smoke_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/smoke"
)

func TestJudgeHealth(t *testing.T) {
	for _, tc := range []struct {
		name            string
		status          int
		body            string
		failOnDegraded  bool
		passed, warning bool
		detail          string
		subsystems      int
	}{
		{"healthy", 200, `{"status":"healthy","checks":[{"name":"registry","status":"healthy"}],"summary":{"total":1,"healthy":1,"unhealthy":0}}`,
			false, true, false, "status healthy (HTTP 200); 1/1 subsystems healthy, 0 unhealthy", 1},
		{"degraded warns", 200, `{"status":"degraded","checks":[]}`, false, true, true, "(warning; fail-on-degraded is off)", 0},
		{"degraded fails when asked", 200, `{"status":"degraded"}`, true, false, false, "(fail-on-degraded)", 0},
		{"unhealthy", 503, `{"status":"unhealthy","checks":[{"name":"db","status":"unhealthy","message":"timeout"}]}`, false, false, false, "status unhealthy (HTTP 503)", 1},
		{"healthy but 500", 500, `{"status":"healthy"}`, false, false, false, "HTTP 500, want 200", 0},
		{"unknown status", 200, `{"status":"sunny"}`, false, false, false, `unknown status "sunny"`, 0},
		{"not JSON", 200, `<html>oops</html>`, false, false, false, "malformed /health JSON (HTTP 200)", 0},
		{"no status", 200, `{"checks":[]}`, false, false, false, `no "status" field`, 0},
		{"wrong types", 200, `{"status":7}`, false, false, false, "malformed /health JSON", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, subs := smoke.JudgeHealth(tc.status, []byte(tc.body), tc.failOnDegraded)
			assert.Equal(t, tc.passed, c.Passed)
			assert.Equal(t, tc.warning, c.Warning)
			assert.Contains(t, c.Detail, tc.detail)
			assert.Len(t, subs, tc.subsystems)
		})
	}
}

// FuzzJudgeHealth: any /health answer gets a verdict with a detail and never
// panics; only a 200 with a known good status passes.
func FuzzJudgeHealth(f *testing.F) {
	for _, seed := range []string{
		`{"status":"healthy","checks":[{"name":"registry","status":"healthy","message":"3 tools"}],"summary":{"total":1,"healthy":1,"unhealthy":0}}`,
		`{"status":"degraded","checks":[{"name":"session_manager","status":"degraded"}]}`,
		`{"status":"unhealthy"}`, `{"status":""}`, `{"status":null,"checks":null,"summary":null}`,
		`{"status":"healthy","checks":[{}]}`, `{"status":"ok","checks":"x"}`, `[]`, `null`, ``, `{`, "\xff\xfe",
		`{"status":"healthy","summary":{"total":-1,"healthy":1e400}}`,
	} {
		f.Add(http.StatusOK, []byte(seed), false)
		f.Add(http.StatusServiceUnavailable, []byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, failOnDegraded bool) {
		c, subs := smoke.JudgeHealth(status, body, failOnDegraded)
		if c.Detail == "" {
			t.Fatalf("no detail for %q", body)
		}
		if c.Passed && status != http.StatusOK {
			t.Fatalf("HTTP %d passed: %s", status, c.Detail)
		}
		if c.Passed && !strings.HasPrefix(c.Detail, "status ") {
			t.Fatalf("passed without a status: %s", c.Detail)
		}
		for _, s := range subs {
			if !strings.HasPrefix(s.Name, "health: ") {
				t.Fatalf("subsystem check %q", s.Name)
			}
		}
	})
}
