package verify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// TestHealthHasAGroupOfItsOwn: the health check is a log group (inside the
// rollout's), so the run's timeline shows it, passed or failed.
func TestHealthHasAGroupOfItsOwn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		check   error
		health  string
		log     string
		verdict rollout.Verdict
	}{
		{"passed", nil, "passed", "▸ Health check\n  health check passed\n", rollout.Verdict{Phase: rollout.Succeeded}},
		{"failed", errors.New("GET /health: 503"), "failed", "▸ Health check\n  failed: GET /health: 503\n",
			rollout.Verdict{Phase: rollout.Failed, Reason: ReasonHealthCheck, Message: "GET /health: 503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			s := Step{Log: ui.NewText(&b, false), HealthCheck: func(context.Context) error { return tc.check }}
			out := Outcome{Result: rollout.Result{Verdict: rollout.Verdict{Phase: rollout.Succeeded}}}
			require.NoError(t, s.health(context.Background(), time.Second, &out))
			assert.Equal(t, tc.health, out.Health)
			assert.Equal(t, tc.verdict, out.Verdict)
			assert.Equal(t, tc.log, b.String())
		})
	}
}
