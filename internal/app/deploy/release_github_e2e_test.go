package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/githubfake"
)

// TestReleaseGitHubDeployments: a release deploy records a GitHub deployment
// from its first change (a refused manifest records none); the rollback
// action finds the deployment of the release it restores and makes it the
// active one again, rather than recording a new one.
func TestReleaseGitHubDeployments(t *testing.T) {
	t.Parallel()
	ns, kc, _ := emptyTarget(t)
	const dashboard = "ghcr.io/acme/erlmcp-dashboard:1.0.0"
	gh := githubfake.New("acme", "erlmcp")
	defer gh.Close()
	env := map[string]string{"GITHUB_API_URL": gh.URL, "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567"}
	dir := exampleRelease(t)
	in := map[string]string{"environment": "staging", "namespace": ns, "kubeconfig": kc, "manifests": dir, "github-token": "ghp_fakeTokenForTheFake0000000000000000",
		"image": "ghcr.io/acme/erlmcp:1.1.0"} // the dashboard's image is the manifests' own
	s := runActionEnv(t, in, env)
	require.Equal(t, 0, s.Code, s.Log)
	in["image"] = "ghcr.io/acme/erlmcp:1.2.0"
	s = runActionEnv(t, in, env)
	require.Equal(t, 0, s.Code, s.Log)

	bad := exampleRelease(t)
	require.NoError(t, os.WriteFile(filepath.Join(bad, "zz-bad.yaml"), []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  portz: []\n"), 0o644))
	in["manifests"] = bad
	s = runActionEnv(t, in, env)
	require.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
	require.Len(t, gh.Deployments(), 2, "a refused manifest records no GitHub deployment")

	rb := steptest.Run(t, actionspec.Rollback(), rollback.Run, map[string]string{"environment": "staging", "namespace": ns, "kubeconfig": kc,
		"github-token": "ghp_fakeTokenForTheFake0000000000000000"}, map[string]string{"GITHUB_API_URL": gh.URL, "GITHUB_SHA": env["GITHUB_SHA"],
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "4343"})
	require.Equal(t, 0, rb.Code, rb.Log)
	deps := gh.Deployments()
	require.Len(t, deps, 2, "the rollback marks the restored release's deployment, it records no new one")
	assert.Equal(t, "in_progress,success,inactive,success", strings.Join(deps[0].States(), ","), "revision 1's deployment is active again")
	assert.Equal(t, "in_progress,success,inactive", strings.Join(deps[1].States(), ","))
	assert.Contains(t, string(deps[0].Payload), `"image":"`+dashboard+`,ghcr.io/acme/erlmcp:1.1.0"`, "the payload names every image of the release")
}
