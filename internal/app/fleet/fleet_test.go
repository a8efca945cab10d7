package fleet

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/waves"
)

func TestReportsCountContextsNotProblems(t *testing.T) {
	rt := ghaction.New(actionspec.Rollback(), ghaction.WithWriter(io.Discard), ghaction.WithGetenv(func(string) string { return "" }))
	var r Reports
	two := ghaction.InputErrors{{Name: "to", Reason: "bad"}, {Name: "confirm", Reason: "bad"}}
	r.Add("prod-eu", rt.Fork(actionspec.Rollback(), "[prod-eu] ", false, nil), two)
	r.Add("prod-us", rt.Fork(actionspec.Rollback(), "[prod-us] ", false, nil), errors.New("rollback failed"))
	assert.Equal(t, 1, r.Refused(), "one context found bad input, with two problems")
	assert.Len(t, r.InputErrors(), 2)
	assert.Len(t, r.Details(), 2)
}

// TestContextsOfAWaveWriteTheirFilesApart: two contexts deployed side by
// side get their own directory under $RUNNER_TEMP, so the backups of the
// same Deployment and revision in two clusters are two files.
func TestContextsOfAWaveWriteTheirFilesApart(t *testing.T) {
	tmp := t.TempDir()
	rt := ghaction.New(actionspec.Deploy(), ghaction.WithWriter(io.Discard), ghaction.WithGetenv(func(k string) string {
		if k == "RUNNER_TEMP" {
			return tmp
		}
		return ""
	}))
	plan := [][]string{{"canary-eu"}, {"prod-eu", "prod@us:1"}}
	ns := map[string]string{"canary-eu": "erlmcp", "prod-eu": "erlmcp", "prod@us:1": "erlmcp"}
	dirs := map[string]bool{}
	for _, c := range []waves.Target{{Context: "prod-eu", Wave: 2}, {Context: "prod@us:1", Wave: 2}} {
		d := setup.TempDir(Fork(rt, actionspec.Deploy(), plan, c, ns))
		assert.Equal(t, tmp, filepath.Dir(d), "under the runner's temp dir")
		dirs[d] = true
	}
	assert.Len(t, dirs, 2, "one directory per context")
	assert.Equal(t, tmp, setup.TempDir(rt), "the parent's own temp dir is unchanged")
	assert.Equal(t, "erlmcp-deploy-prod-eu", ContextDir("prod-eu"))
	assert.Regexp(t, `^erlmcp-deploy-prod_us_1-[0-9a-f]{8}$`, ContextDir("prod@us:1"))
	assert.NotEqual(t, ContextDir("prod@us:1"), ContextDir("prod_us_1"))
}

// Each context's namespace follows the rule of a single context (and of
// kubectl): the namespace input when the run gives it, else the context's,
// else the input's default.
func TestPureTargetsNamespaceRule(t *testing.T) {
	const kc = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t0ken-value}}]
contexts:
- {name: eu, context: {cluster: c, user: u, namespace: team-eu}}
- {name: us, context: {cluster: c, user: u}}
current-context: eu
`
	for _, tc := range []struct {
		name, input string
		want        map[string]string
	}{
		{"the context's, else the default", "", map[string]string{"eu": "team-eu", "us": "erlmcp"}},
		{"the run's wins", "shared", map[string]string{"eu": "shared", "us": "shared"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"INPUT_KUBECONFIG": kc, "INPUT_CONTEXTS": "eu\nus", "INPUT_NAMESPACE": tc.input}
			rt := ghaction.New(actionspec.Deploy(), ghaction.WithWriter(io.Discard),
				ghaction.WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
				ghaction.WithGetenv(func(k string) string { return env[k] }))
			plan, ns := Targets(rt)
			assert.NoError(t, rt.InputErr())
			assert.Len(t, plan, 2)
			assert.Equal(t, tc.want, ns)
		})
	}
}
