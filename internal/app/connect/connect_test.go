package connect

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t0ken-value}
contexts:
- name: team-a
  context: {cluster: c, user: u, namespace: team-a}
- name: plain
  context: {cluster: c, user: u}
current-context: team-a
`

// As kubectl does: the namespace input when the run gives it, else the
// context's namespace, else the input's default — the same rule as each
// context of the contexts input follows (fleet.Targets).
func TestPureNamespaceFollowsTheContext(t *testing.T) {
	for _, tc := range []struct {
		name, context, input, want string
	}{
		{"the context's namespace", "team-a", "", "team-a"},
		{"the run's namespace wins", "team-a", "other", "other"},
		{"a context without one: the default", "plain", "", "erlmcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"INPUT_KUBECONFIG": kubeconfig, "INPUT_CONTEXT": tc.context, "INPUT_NAMESPACE": tc.input}
			look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			rt := ghaction.New(actionspec.Deploy(), ghaction.WithWriter(io.Discard), ghaction.WithLookupEnv(look),
				ghaction.WithGetenv(func(k string) string { return env[k] }))
			_, err := Kube(rt)
			require.NoError(t, err)
			assert.Equal(t, tc.want, rt.String("namespace"))
		})
	}
}
