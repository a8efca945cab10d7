package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// TestPreviewWorkflow runs .github/workflows/preview.yml as a user's
// repository calls it (uses: org/erlmcp-deploy/.github/workflows/preview.yml@v1
// from a workflow on pull_request), with act, twice: a pull request opened —
// the preview comes up in its namespace with the release running the image,
// is smoke-tested at its URL, with one comment and one GitHub deployment —
// then closed — the namespace is gone. The image is given (no Docker here),
// so the test and image jobs are skipped; the kubeconfig is the identity of
// examples/kubernetes/rbac-preview.yaml.
//
// GitHub is the in-process fake: act takes GITHUB_API_URL (and
// GITHUB_REPOSITORY) from --env into the github context and every step's
// environment (nektos/act pkg/runner/run_context.go, getGithubContext: "allow
// to be overridden by user"), and github.token is the GITHUB_TOKEN secret
// given with -s (act asks `gh auth token` only when none is given). Nothing
// leaves the loopback interface.
func TestPreviewWorkflow(t *testing.T) {
	const (
		number = 7
		prefix = "pvwf-"
		token  = "ghp_previewWorkflowFakeToken000000000000"
		repo   = "acme/erlmcp"
	)
	head := "7e57ab1" + strings.Repeat("c", 33)
	image := "ghcr.io/acme/erlmcp:pr-7-7e57ab1"
	ns, environment := fmt.Sprintf("%s%d", prefix, number), fmt.Sprintf("pr-%d", number)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := cluster.PreviewDeployer(ctx, "pvwf-home")
	require.NoError(t, err)
	kc, err := os.ReadFile(id.Kubeconfig)
	require.NoError(t, err)
	t.Cleanup(func() { // a failed run must not leave the preview behind
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	gh := githubfake.New("acme", "erlmcp")
	t.Cleanup(gh.Close)
	gh.AddPull(githubfake.Pull{Number: number, HeadSHA: head, HeadRef: "feature-7"})
	gh.ForbidEnvironmentDeletes(true) // GITHUB_TOKEN's rights: one warning on close
	url := serve(t, erlmcpd.Healthy)  // the preview's URL: what the smoke test reaches

	// The caller's repository: the example release, and the caller workflow on pull_request.
	caller := t.TempDir()
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	release := filepath.Join(root, "examples", "kubernetes", "erlmcp")
	files, err := os.ReadDir(release)
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(release, f.Name()))
		require.NoError(t, err)
		write(t, filepath.Join(caller, "deploy", "erlmcp", f.Name()), string(b))
	}
	write(t, filepath.Join(caller, ".github", "workflows", "caller.yml"), fmt.Sprintf(`name: caller
on:
  pull_request:
    types: [opened, synchronize, reopened, closed]
jobs:
  preview:
    uses: org/erlmcp-deploy/.github/workflows/preview.yml@v1
    with:
      manifests: deploy/erlmcp
      image: %s
      namespace-prefix: %s
      url-template: %s
      mcp-expect-tools: echo, add
      smoke-wait: 5s
      timeout: 90s
    secrets:
      PREVIEW_KUBECONFIG: ${{ secrets.PREVIEW_KUBECONFIG }}
`, image, prefix, url))
	git(t, caller, "init", "-q")
	git(t, caller, "add", "-A")
	git(t, caller, "commit", "-q", "-m", "caller")

	event := func(action string) *run {
		t.Helper()
		payload := map[string]any{"action": action, "number": number, "repository": map[string]any{"full_name": repo},
			"pull_request": map[string]any{"number": number, "title": "change 7", "merged": false, "user": map[string]any{"login": "octocat"},
				"head": map[string]any{"sha": head, "ref": "feature-7", "repo": map[string]any{"full_name": repo}},
				"base": map[string]any{"sha": strings.Repeat("b", 40), "ref": "main", "repo": map[string]any{"full_name": repo}}}}
		b, err := json.Marshal(payload)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "event.json")
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return runAct(t, caller, "pull_request", "-W", ".github/workflows/caller.yml", "-e", path,
			"-s", "PREVIEW_KUBECONFIG="+string(kc), "-s", "GITHUB_TOKEN="+token,
			"--env", "GITHUB_API_URL="+gh.URL, "--env", "GITHUB_REPOSITORY="+repo)
	}
	noLeaks := func(r *run) {
		t.Helper()
		for _, line := range strings.Split(r.log, "\n") {
			if strings.Contains(line, `"command":"add-mask"`) {
				continue // act's own record of the mask command
			}
			for name, secret := range map[string]string{"the GitHub token": token, "the deployer's token": id.Token} {
				if strings.Contains(line, secret) {
					t.Errorf("%s reached the log: %.200s", name, line)
				}
			}
		}
	}

	// Opened: up, then the smoke test.
	r := event("opened")
	noLeaks(r)
	assert.Equal(t, "success", r.results["validate"])
	assert.NotContains(t, r.results, "test", "an existing image skips the tests")
	assert.NotContains(t, r.results, "image", "an existing image skips the build")
	assert.NotContains(t, r.results, "down", "no down on opened")
	require.Equal(t, "success", r.results["preview"], "the preview job")
	assert.Equal(t, "up", r.out("preview", "preview", "status"))
	assert.Equal(t, ns, r.out("preview", "preview", "namespace"))
	assert.Equal(t, url, r.out("preview", "preview", "url"))
	assert.Empty(t, r.out("preview", "preview", "failure-cause"))
	assert.NotEmpty(t, r.out("preview", "smoke", "passed"), "the preview was smoke-tested at its URL")
	assert.Equal(t, "0", r.out("preview", "smoke", "failed"))
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err, "the release's Deployment in the preview's namespace")
	assert.Equal(t, image, d.Spec.Template.Spec.Containers[0].Image)
	assert.Positive(t, d.Status.AvailableReplicas, "the preview serves")
	comments := gh.Comments(number)
	require.Len(t, comments, 1, "one comment on the pull request")
	assert.Contains(t, comments[0].Body, "Preview is up")
	assert.Contains(t, comments[0].Body, url)
	var deps []githubfake.Deployment
	for _, dep := range gh.Deployments() {
		if dep.Environment == environment {
			deps = append(deps, dep)
		}
	}
	require.Len(t, deps, 1, "one deployment in environment %s", environment)
	assert.Equal(t, head, deps[0].Ref, "the deployment names the pull request's head")
	assert.True(t, deps[0].TransientEnvironment)
	assert.Equal(t, "in_progress,success", strings.Join(deps[0].States(), ","))
	assert.Equal(t, url, deps[0].Statuses[len(deps[0].Statuses)-1].EnvironmentURL)

	// Closed: down, and nothing built or deployed.
	r = event("closed")
	noLeaks(r)
	assert.Equal(t, "success", r.results["validate"])
	require.Equal(t, "success", r.results["down"], "the down job")
	for _, job := range []string{"test", "image", "preview"} {
		assert.NotContains(t, r.results, job, "%s does not run on closed", job)
	}
	assert.Equal(t, "down", r.out("down", "preview", "status"))
	_, err = cluster.Client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the preview's namespace is gone when down returns: %v", err)
	comments = gh.Comments(number)
	require.Len(t, comments, 1, "the same comment, edited")
	assert.Contains(t, comments[0].Body, "Preview removed")
	for _, dep := range gh.Deployments() {
		if dep.Environment == environment {
			assert.Equal(t, "inactive", dep.States()[len(dep.States())-1], "deployment %d", dep.ID)
		}
	}
	assert.Contains(t, r.log, "was not deleted", "a warning: GITHUB_TOKEN may not delete the environment")
}
