package deploy

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// TestPureCanaryOptionsJudgeSamples: an analysis whose judge cannot reach its
// α with the samples a step gives it is an input error before anything
// connects — of the file when its count: decides, else of canary-analysis-count.
func TestPureCanaryOptionsJudgeSamples(t *testing.T) {
	const judge = "metrics:\n  - name: latency\n    query: l{track=\"{{track}}\"}\n    judge: {}\n"
	for _, tc := range []struct {
		name            string
		file            string
		interval, count string
		want            *ghaction.InputError // nil: no input error
	}{
		{"the defaults (1m × 3 at 10s: 18 a side)", judge, "", "", nil},
		{"3 a side from the inputs: canary-analysis-count, naming 5", judge, "10s", "3",
			&ghaction.InputError{Name: "canary-analysis-count", Reason: `FILE:2: metric "latency": its judge compares 3 samples a side per step (count 3 (canary-analysis-count) × interval 10s (canary-interval) ÷ judge.step 10s), and the smallest two-sided Mann–Whitney p for 3 a side is 0.1, not below α = 0.02 (confidence 0.98): it could never fail; it needs at least 5 a side: count 5 at this interval and step, a shorter judge.step, or a lower confidence`}},
		{"twin: 5 a side from the inputs", judge, "10s", "5", nil},
		{"the file's count: the file, at the metric's line", "count: 3\n" + judge, "10s", "", &ghaction.InputError{Name: "analysis", Line: 3}},
		{"the file's count and interval: refused when it is loaded", "count: 3\ninterval: 10s\n" + judge, "", "", &ghaction.InputError{Name: "analysis", Line: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "analysis.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o644))
			env := map[string]string{"INPUT_ANALYSIS": path, "INPUT_PROMETHEUS-URL": "http://127.0.0.1:9", "INPUT_CANARY-INTERVAL": tc.interval, "INPUT_CANARY-ANALYSIS-COUNT": tc.count}
			rt := ghaction.New(actionspec.Deploy(), ghaction.WithGetenv(func(k string) string { return env[k] }), ghaction.WithWriter(io.Discard))
			canaryOptions(rt, rt)
			err := rt.InputErr()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var errs ghaction.InputErrors
			require.True(t, errors.As(err, &errs), "%v", err)
			require.Len(t, errs, 1, "%v", err)
			got := errs[0]
			assert.Equal(t, tc.want.Name, got.Name)
			assert.Contains(t, got.Reason, "needs at least 5 a side")
			if tc.want.Reason != "" {
				assert.Equal(t, strings.Replace(tc.want.Reason, "FILE", path, 1), got.Reason)
			}
			if tc.want.Line > 0 {
				assert.Equal(t, path, got.File)
				assert.Equal(t, tc.want.Line, got.Line, "the metric's line")
			}
		})
	}
}
