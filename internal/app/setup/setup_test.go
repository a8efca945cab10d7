package setup_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/deploy"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/app/smoke"
	"github.com/org/erlmcp-deploy/internal/config"
	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
)

// sharedConfig is one .github/erlmcp-deploy.yml for a whole pipeline: keys
// of deploy, smoke and rollback side by side (line numbers matter below).
const sharedConfig = `defaults:
  deployment: erlmcp
  slack-channel: C0DEPLOYS
  timeout: 5m
environments:
  production:
    namespace: erlmcp-prod
    fail-fast: true
    rollback-on-failure: true
    change-cause: pipeline
    to: last-successful
    confirm: production
    base-url: %s
    mcp-path: /mcp
    wait: 5s
    max-response-time: 2s
    suite: erlmcp
`

// unreachableKubeconfig points at a port nothing listens on: deploy and
// rollback get past their inputs and fail connecting (exit 1), which shows
// that the config file was accepted.
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: unreachable-cluster-token-123}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`

// writeConfig writes the shared file as .github/erlmcp-deploy.yml of a fresh
// working directory, with extra lines appended to the production entry.
func writeConfig(t *testing.T, baseURL string, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".github"), 0o755))
	content := fmt.Sprintf(sharedConfig, baseURL) + strings.Join(extra, "")
	require.NoError(t, os.WriteFile(filepath.Join(dir, config.DefaultPath), []byte(content), 0o644))
}

type action struct {
	spec   actionspec.Action
	run    ghaction.RunFunc
	inputs map[string]string
	// code is the exit code with the shared file: smoke passes against a
	// local erlmcp, deploy and rollback fail to reach the cluster.
	code int
	// ignored are keys of other actions, with their line in the file.
	ignored map[string]int
}

func actions() []action {
	return []action{
		{
			spec: actionspec.Deploy(), run: deploy.Run, code: ghaction.ExitFailed,
			inputs:  map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.2.3", "kubeconfig": unreachableKubeconfig},
			ignored: map[string]int{"to": 11, "confirm": 12, "base-url": 13, "mcp-path": 14, "wait": 15, "max-response-time": 16, "suite": 17},
		},
		{
			spec: actionspec.Rollback(), run: rollback.Run, code: ghaction.ExitFailed,
			inputs:  map[string]string{"environment": "production", "kubeconfig": unreachableKubeconfig},
			ignored: map[string]int{"fail-fast": 8, "rollback-on-failure": 9, "change-cause": 10, "base-url": 13, "mcp-path": 14, "wait": 15},
		},
		{
			spec: actionspec.Smoke(), run: smoke.Run, code: ghaction.ExitOK,
			inputs: map[string]string{"environment": "production"},
			// namespace is smoke's too (the port-forward target's), so it is not ignored.
			ignored: map[string]int{"deployment": 2, "timeout": 4, "fail-fast": 8, "rollback-on-failure": 9,
				"change-cause": 10, "to": 11, "confirm": 12},
		},
	}
}

// TestOneConfigFileServesEveryAction runs the real deploy, rollback and smoke
// adapters with one file holding all their keys: none of them rejects the
// keys of another; each says, in a debug line, which keys it ignores.
func TestOneConfigFileServesEveryAction(t *testing.T) {
	srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{}))
	defer srv.Close()
	for _, a := range actions() {
		t.Run(a.spec.ID, func(t *testing.T) {
			writeConfig(t, srv.URL)
			s := steptest.Run(t, a.spec, a.run, a.inputs, nil)
			assert.Equal(t, a.code, s.Code, s.Log)
			assert.NotContains(t, s.Log, "Invalid input", "a key of another action must not be an input error")
			for key, line := range a.ignored {
				assert.Contains(t, s.Log, fmt.Sprintf("::debug::%s:%d: %s is an input of ", config.DefaultPath, line, key))
				assert.Contains(t, s.Log, fmt.Sprintf(", not of %s: ignored here", a.spec.ID))
			}
			switch a.spec.ID {
			case "smoke":
				assert.Contains(t, s.Summary, "Smoke test of production passed", "base-url, mcp-path and wait came from the file")
				assert.Equal(t, "0", s.Output("failed"))
			default:
				assert.Contains(t, s.Log, "deployment erlmcp-prod/erlmcp (production)", "namespace and deployment came from the file")
				assert.Contains(t, s.Log, "127.0.0.1:1: connect: connection refused", "it went on to the cluster")
			}
		})
	}
}

// TestConfigKeyOfNoActionIsAnError: a key no action declares is exit 2, an
// annotation on its file and line, with the accepted keys — in every action.
func TestConfigKeyOfNoActionIsAnError(t *testing.T) {
	for _, a := range actions() {
		t.Run(a.spec.ID, func(t *testing.T) {
			writeConfig(t, "http://127.0.0.1:1", "    nmespace: erlmcp\n", "    draft: true\n")
			s := steptest.Run(t, a.spec, a.run, a.inputs, nil)
			assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
			const file = config.DefaultPath
			assert.Contains(t, s.Log, "::error file="+file+",line=18,title=Invalid input config::"+file+
				`:18: unknown key "nmespace": no action reading this file has such an input (did you mean "namespace"?); accepted keys: `)
			assert.Contains(t, s.Log, "::error file="+file+",line=19,title=Invalid input config::"+file+`:19: unknown key "draft"`)
			assert.Contains(t, s.Log, "accepted keys: "+strings.Join(actionspec.ConfigKeys(), ", "))
			assert.NotContains(t, s.Log, "127.0.0.1:1", "nothing starts after an input error")
		})
	}
}

func TestConfigKeys(t *testing.T) {
	keys := actionspec.ConfigKeys()
	for _, k := range []string{"namespace", "fail-fast", "to", "base-url", "mcp-path", "config", "slack-channel"} {
		assert.Contains(t, keys, k)
	}
	for _, k := range []string{"draft", "tag", "notes-source"} {
		assert.NotContains(t, keys, k, "release-notes does not read the config file")
	}
	assert.Equal(t, []string{"deploy", "rollback"}, actionspec.ConfigKeyOwners("timeout"))
	assert.Equal(t, []string{"deploy", "rollback", "smoke"}, actionspec.ConfigKeyOwners("slack-channel"))
	assert.Empty(t, actionspec.ConfigKeyOwners("draft"))
}
