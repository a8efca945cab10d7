package preview_test

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
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/preview"
	"github.com/org/erlmcp-deploy/internal/bootcause/bootcorpus"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	pv "github.com/org/erlmcp-deploy/internal/preview"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const (
	token     = "ghp_fakeTokenForTheFake0000000000000000"
	erlmcp    = "ghcr.io/acme/erlmcp"
	dashboard = "ghcr.io/acme/erlmcp-dashboard"
)

// sha is a 40-hex commit whose first characters are n's.
func sha(n int) string { return fmt.Sprintf("%07d%s", n, strings.Repeat("a", 33)) }

// world is one test's repository on the GitHub fake, and the preview
// deployer (examples/kubernetes/rbac-preview.yaml) on the real cluster.
type world struct {
	t      *testing.T
	gh     *githubfake.Server
	repo   string
	prefix string
	kc     string
	id     *testcluster.Identity
	// extraEnv is added to the next runs' environment.
	extraEnv map[string]string
}

func newWorld(t *testing.T, name string) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := cluster.PreviewDeployer(ctx, "preview-"+name)
	require.NoError(t, err)
	kc, err := os.ReadFile(id.Kubeconfig)
	require.NoError(t, err)
	gh := githubfake.New("acme", "erlmcp-"+name)
	t.Cleanup(gh.Close)
	return &world{t: t, gh: gh, repo: "acme/erlmcp-" + name, prefix: "pv-" + name + "-", kc: string(kc), id: id}
}

// release is the example release as users write it (every object in namespace erlmcp).
func release(t *testing.T) string {
	t.Helper()
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	return filepath.Join(root, "examples", "kubernetes", "erlmcp")
}

// pullEvent is a pull_request event's payload, as GitHub sends it.
func (w *world) pullEvent(action string, number int, head string, headRepo string, merged bool) map[string]any {
	if headRepo == "" {
		headRepo = w.repo
	}
	return map[string]any{"action": action, "number": number, "repository": map[string]any{"full_name": w.repo},
		"pull_request": map[string]any{"number": number, "title": fmt.Sprintf("change %d", number), "merged": merged,
			"user": map[string]any{"login": "octocat"},
			"head": map[string]any{"sha": head, "ref": fmt.Sprintf("feature-%d", number), "repo": map[string]any{"full_name": headRepo}},
			"base": map[string]any{"sha": sha(1), "ref": "main", "repo": map[string]any{"full_name": w.repo}}}}
}

// run runs the preview action in-process, as its binary does, on event.
func (w *world) run(eventName string, payload map[string]any, inputs map[string]string) steptest.Step {
	return w.runContext(context.Background(), eventName, payload, inputs)
}

func (w *world) runContext(ctx context.Context, eventName string, payload map[string]any, inputs map[string]string) steptest.Step {
	w.t.Helper()
	path := filepath.Join(w.t.TempDir(), "event.json")
	b, err := json.Marshal(payload)
	require.NoError(w.t, err)
	require.NoError(w.t, os.WriteFile(path, b, 0o644))
	in := map[string]string{"kubeconfig": w.kc, "github-token": token, "namespace-prefix": w.prefix,
		"url-template": "https://pr-{number}.preview.example.com"}
	for k, v := range inputs {
		in[k] = v
	}
	env := map[string]string{"GITHUB_API_URL": w.gh.URL, "GITHUB_REPOSITORY": w.repo, "GITHUB_EVENT_NAME": eventName,
		"GITHUB_EVENT_PATH": path, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242", "GITHUB_ACTOR": "octocat",
		"GITHUB_SHA": sha(1)}
	for k, v := range w.extraEnv {
		env[k] = v
	}
	return steptest.RunContext(ctx, w.t, actionspec.Preview(), preview.Run, in, env)
}

// up runs a push of pull request number at head with image tag.
func (w *world) up(action string, number int, head, tag string, extra map[string]string) steptest.Step {
	w.t.Helper()
	in := map[string]string{"manifests": release(w.t), "image": erlmcp + ":" + tag}
	for k, v := range extra {
		in[k] = v
	}
	return w.run("pull_request", w.pullEvent(action, number, head, "", false), in)
}

func (w *world) namespace(number int) string { return fmt.Sprintf("%s%d", w.prefix, number) }

func getNamespace(t *testing.T, name string) (*corev1.Namespace, bool) {
	t.Helper()
	ns, err := cluster.Client.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	require.NoError(t, err)
	return ns, true
}

func image(t *testing.T, ns, deployment string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), deployment, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

func (w *world) deployments(env string) []githubfake.Deployment {
	var out []githubfake.Deployment
	for _, d := range w.gh.Deployments() {
		if d.Environment == env {
			out = append(out, d)
		}
	}
	return out
}

func states(ds []githubfake.Deployment) []string {
	var out []string
	for _, d := range ds {
		out = append(out, strings.Join(d.States(), ","))
	}
	return out
}

// TestPreviewLifecycle: a pull request's preview from its opening to its
// close, on the real control plane and the GitHub fake: open → namespace
// with quota and LimitRange, the release serving, a transient deployment
// with its URL, one comment; two more pushes → the same namespace and the
// same comment edited, older deployments inactive; a doomed push → the
// previous push serving again and the comment naming the cause; a fork and
// a pull request past max-previews refused with nothing created; close →
// namespace gone, deployments inactive, environment deleted, comment edited.
func TestPreviewLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "life")
	ctx := context.Background()
	const n = 12
	ns, env := w.namespace(n), "pr-12"
	w.gh.AddPull(githubfake.Pull{Number: n, HeadSHA: sha(101)})
	w.gh.AddPull(githubfake.Pull{Number: 13, HeadSHA: sha(201), HeadRepo: "mallory/erlmcp-life"})
	w.gh.AddPull(githubfake.Pull{Number: 14, HeadSHA: sha(301)})

	// A dry run says what it would do and changes nothing.
	s := w.up("opened", n, sha(101), "pr12-a", map[string]string{"dry-run": "true"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Contains(t, s.Log, "dry run: would create namespace "+ns)
	_, ok := getNamespace(t, ns)
	assert.False(t, ok, "a dry run creates no namespace")
	assert.Zero(t, w.gh.WriteCalls(), "a dry run writes nothing on GitHub")

	// Open, with the manifests a release deploy uses: the release and its own Namespace (left out).
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	s = w.up("opened", n, sha(101), "pr12-a", map[string]string{"manifests": release(t) + "\n" + filepath.Join(root, "examples", "kubernetes", "namespace.yaml")})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Contains(t, s.Log, "Namespace erlmcp of the manifests is left out: the release runs in namespace "+ns)
	_, ok = getNamespace(t, "erlmcp")
	assert.False(t, ok, "the manifests' Namespace is not created")
	assert.Equal(t, "up", s.Output("status"))
	assert.Equal(t, ns, s.Output("namespace"))
	assert.Equal(t, "https://pr-12.preview.example.com", s.Output("url"))
	assert.Equal(t, "", s.Output("failure-cause"))
	assert.Empty(t, s.Leaks(token))
	assert.Empty(t, s.Leaks(w.id.Token))
	got, ok := getNamespace(t, ns)
	require.True(t, ok)
	assert.Equal(t, pv.Labels(w.repo, n), filterLabels(got.Labels))
	assert.Equal(t, sha(101), got.Annotations[pv.HeadSHAAnnotation])
	assert.Equal(t, sha(101), got.Annotations[pv.ServingSHAAnnotation])
	q, err := cluster.Client.CoreV1().ResourceQuotas(ns).Get(ctx, pv.QuotaName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "10", q.Spec.Hard.Pods().String())
	_, err = cluster.Client.CoreV1().LimitRanges(ns).Get(ctx, pv.LimitRangeName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, erlmcp+":pr12-a", image(t, ns, "erlmcp"), "the release's objects are placed in the preview's namespace, not erlmcp")
	deps := w.deployments(env)
	require.Len(t, deps, 1)
	assert.True(t, deps[0].TransientEnvironment)
	assert.False(t, deps[0].ProductionEnvironment)
	assert.Equal(t, sha(101), deps[0].Ref)
	assert.Equal(t, "in_progress,success", strings.Join(deps[0].States(), ","))
	assert.Equal(t, "https://pr-12.preview.example.com", deps[0].Statuses[len(deps[0].Statuses)-1].EnvironmentURL)
	comments := w.gh.Comments(n)
	require.Len(t, comments, 1)
	first := comments[0].ID
	assert.Contains(t, comments[0].Body, "Preview is up")
	assert.Contains(t, comments[0].Body, "https://pr-12.preview.example.com")
	assert.Contains(t, comments[0].Body, "`0000101`")
	assert.Contains(t, s.Summary, "## ✅ Release erlmcp deployed to the preview of pull request #12")
	assert.Contains(t, s.Summary, "Preview at https://pr-12.preview.example.com · namespace `pv-life-12` · GitHub environment `pr-12`")

	// Two more pushes.
	for i, tag := range []string{"pr12-b", "pr12-c"} {
		s = w.up("synchronize", n, sha(102+i), tag, nil)
		require.Equal(t, 0, s.Code, s.Log)
		assert.Equal(t, "up", s.Output("status"))
	}
	assert.Equal(t, erlmcp+":pr12-c", image(t, ns, "erlmcp"))
	comments = w.gh.Comments(n)
	require.Len(t, comments, 1, "one comment, edited in place")
	assert.Equal(t, first, comments[0].ID)
	assert.Contains(t, comments[0].Body, "`0000103`")
	assert.NotContains(t, comments[0].Body, "`0000101`")
	assert.Equal(t, []string{"in_progress,success,inactive", "in_progress,success,inactive", "in_progress,success"}, states(w.deployments(env)),
		"each verified push makes the older deployments of its environment inactive")

	// A doomed push: the dashboard's new pods crash at boot (a missing variable).
	log, err := bootcorpus.Log(filepath.Join("..", "..", "bootcause", "testdata", "corpus"), "missing-env/elixir-runtime-exs")
	require.NoError(t, err)
	cleanup, err := cluster.NamespaceLogs(ctx, ns, testcluster.ContainerLogs{Previous: log})
	require.NoError(t, err)
	defer func() { _ = cleanup() }()
	const slackToken = "xoxb-preview-S3cret"
	slack, api := slackfake.New(t, slackToken)
	w.extraEnv = map[string]string{"ERLMCP_SLACK_API_URL": api}
	s = w.up("synchronize", n, sha(104), "pr12-c", map[string]string{"images": dashboard + "=" + dashboard + ":pr12-d-fault-crashloop",
		"slack-token": slackToken, "slack-channel": "C0PREVIEWS"})
	w.extraEnv = nil
	require.Equal(t, 1, s.Code, s.Log)
	assert.Empty(t, s.Leaks(slackToken))
	msg := slack.Message(s.Output("slack-ts"))
	assert.Contains(t, msg.Get("blocks")+msg.Get("attachments"), "missing-env: the release needs env DATABASE_URL", "Slack names the cause")
	assert.Contains(t, msg.Get("blocks")+msg.Get("attachments"), "#12 change 12", "Slack names the pull request")
	assert.Equal(t, "failed", s.Output("status"))
	assert.Equal(t, "missing-env", s.Output("failure-cause"))
	assert.Equal(t, dashboard+":1.0.0", image(t, ns, "erlmcp-dashboard"), "the previous push serves again")
	comments = w.gh.Comments(n)
	require.Len(t, comments, 1)
	assert.Contains(t, comments[0].Body, "The last push failed to deploy")
	assert.Contains(t, comments[0].Body, "DATABASE_URL")
	assert.Contains(t, comments[0].Body, "still serves the previous push, `0000103`")
	assert.True(t, strings.HasPrefix(s.Summary, "## ↩️ Release erlmcp failed in the preview of pull request #12 and the previous release was restored — missing-env: env DATABASE_URL"), s.Summary)
	assert.Equal(t, []string{"in_progress,success,inactive", "in_progress,success,inactive", "in_progress,success", "in_progress,failure"},
		states(w.deployments(env)), "the failed push's deployment failed; the serving one stays active")
	got, _ = getNamespace(t, ns)
	assert.Equal(t, sha(103), got.Annotations[pv.ServingSHAAnnotation])

	// A fork is refused: nothing created.
	s = w.run("pull_request", w.pullEvent("opened", 13, sha(201), "mallory/erlmcp-life", false),
		map[string]string{"manifests": release(t), "image": erlmcp + ":evil"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "refused", s.Output("status"))
	assert.Contains(t, s.Log, "::warning::no preview for pull request #13: pull request #13 comes from mallory/erlmcp-life")
	_, ok = getNamespace(t, w.namespace(13))
	assert.False(t, ok, "no namespace for a fork")
	assert.Empty(t, w.deployments("pr-13"))
	require.Len(t, w.gh.Comments(13), 1)
	assert.Contains(t, w.gh.Comments(13)[0].Body, "No preview for this pull request")

	// Past max-previews: refused, nothing created; the open preview keeps updating.
	s = w.up("opened", 14, sha(301), "pr14-a", map[string]string{"max-previews": "1"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "refused", s.Output("status"))
	_, ok = getNamespace(t, w.namespace(14))
	assert.False(t, ok)
	assert.Empty(t, w.deployments("pr-14"))
	assert.Contains(t, w.gh.Comments(14)[0].Body, "`max-previews`")

	// Close (merged): everything goes; the environment is deleted.
	s = w.run("pull_request", w.pullEvent("closed", n, sha(104), "", true), nil)
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "down", s.Output("status"))
	_, ok = getNamespace(t, ns)
	assert.False(t, ok, "the namespace is gone when down returns")
	for _, d := range w.deployments(env) {
		assert.Equal(t, "inactive", d.States()[len(d.States())-1], "deployment %d", d.ID)
	}
	assert.NotContains(t, w.gh.Environments(), env)
	comments = w.gh.Comments(n)
	require.Len(t, comments, 1)
	assert.Contains(t, comments[0].Body, "Preview removed")
	assert.Contains(t, comments[0].Body, "was merged")

	// Reopened: a new preview in a new namespace, the same comment back to up.
	s = w.up("reopened", n, sha(105), "pr12-e", nil)
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "up", s.Output("status"))
	assert.Contains(t, s.Log, "namespace "+ns+" created for pull request #12")
	assert.Equal(t, erlmcp+":pr12-e", image(t, ns, "erlmcp"))
	comments = w.gh.Comments(n)
	require.Len(t, comments, 1)
	assert.Equal(t, first, comments[0].ID)
	assert.Contains(t, comments[0].Body, "Preview is up")
	deps = w.deployments(env)
	assert.Equal(t, "in_progress,success", strings.Join(deps[len(deps)-1].States(), ","))
}

// filterLabels keeps the preview's labels (the API server adds kubernetes.io/metadata.name).
func filterLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if k != corev1.LabelMetadataName {
			out[k] = v
		}
	}
	return out
}

// TestPreviewReaper: reap removes the preview of a closed pull request and
// one idle past its ttl, keeps a fresh one, and never touches a namespace
// without the preview labels or another repository's preview; its dry run
// and a GitHub that cannot list pull requests change nothing.
func TestPreviewReaper(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "reap")
	ctx := context.Background()
	w.gh.ForbidEnvironmentDeletes(true) // GITHUB_TOKEN's rights

	// #21 open and fresh, #22 closed (a real preview, with its release), #23 open and idle for 10 days.
	w.gh.AddPull(githubfake.Pull{Number: 21, HeadSHA: sha(21)})
	w.gh.AddPull(githubfake.Pull{Number: 22, HeadSHA: sha(22)})
	w.gh.AddPull(githubfake.Pull{Number: 23, HeadSHA: sha(23)})
	s := w.up("opened", 22, sha(22), "pr22", nil)
	require.Equal(t, 0, s.Code, s.Log)
	w.gh.SetPullState(22, "closed", false)
	now := time.Now()
	mk := func(name string, labels, ann map[string]string) {
		_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: ann}}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	mk(w.namespace(21), pv.Labels(w.repo, 21), pv.Annotations(w.repo, pv.PullRequest{Number: 21, HeadSHA: sha(21)}, now.Add(-time.Hour)))
	mk(w.namespace(23), pv.Labels(w.repo, 23), pv.Annotations(w.repo, pv.PullRequest{Number: 23, HeadSHA: sha(23)}, now.Add(-240*time.Hour)))
	mk(w.namespace(24), nil, nil) // a namespace of the same name shape, not a preview
	mk("pv-reap-other-25", pv.Labels("acme/other", 25), pv.Annotations("acme/other", pv.PullRequest{Number: 25}, now.Add(-240*time.Hour)))

	schedule := map[string]any{"schedule": "0 3 * * *", "repository": map[string]any{"full_name": w.repo}}
	// GitHub cannot list the pull requests: nothing removed.
	w.gh.FailNext("GET", "/repos/acme/erlmcp-reap/pulls", 10, 502, nil)
	s = w.run("schedule", schedule, map[string]string{"ttl": "72h"})
	w.gh.ClearFaults()
	require.Equal(t, 1, s.Code, s.Log)
	assert.Contains(t, s.Log, "no preview was removed")
	for _, n := range []int{21, 22, 23, 24} {
		_, ok := getNamespace(t, w.namespace(n))
		assert.True(t, ok, "pr %d kept when the open pull requests are unknown", n)
	}

	// Dry run: the table, nothing changed.
	writes := w.gh.WriteCalls()
	s = w.run("schedule", schedule, map[string]string{"ttl": "72h", "dry-run": "true"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Contains(t, s.Summary, "Dry run of the reaper")
	assert.Equal(t, "<unset>", s.Output("status"), "a dry run sets no status")
	assert.Contains(t, s.Summary, "| `pv-reap-22` | #22 |")
	assert.Contains(t, s.Summary, "would remove")
	assert.Equal(t, writes, w.gh.WriteCalls(), "a dry run writes nothing on GitHub")
	for _, n := range []int{21, 22, 23} {
		_, ok := getNamespace(t, w.namespace(n))
		assert.True(t, ok, "dry run kept pr %d", n)
	}

	s = w.run("schedule", schedule, map[string]string{"ttl": "72h"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "reaped", s.Output("status"))
	_, ok := getNamespace(t, w.namespace(22))
	assert.False(t, ok, "the closed pull request's preview is gone")
	_, ok = getNamespace(t, w.namespace(23))
	assert.False(t, ok, "the preview idle past the ttl is gone")
	_, ok = getNamespace(t, w.namespace(21))
	assert.True(t, ok, "the fresh preview stays")
	_, ok = getNamespace(t, w.namespace(24))
	assert.True(t, ok, "a namespace without the preview labels is never touched")
	_, ok = getNamespace(t, "pv-reap-other-25")
	assert.True(t, ok, "another repository's preview is never touched")
	assert.Contains(t, s.Summary, "2 removed, 1 kept")
	assert.Contains(t, s.Summary, "pull request #22 is closed")
	assert.Contains(t, s.Summary, "past the ttl of 3d")
	assert.Contains(t, s.Summary, "| `pv-reap-21` | #21 |")
	assert.Equal(t, 1, strings.Count(s.Log, "was not deleted"), "one warning for the environments the token may not delete")
	for _, d := range w.deployments("pr-22") {
		assert.Equal(t, "inactive", d.States()[len(d.States())-1])
	}
	assert.Contains(t, w.gh.Comments(22)[0].Body, "Preview removed")
}

// TestPreviewBadInputs: each bad input is an error naming it, exit 2, and
// nothing changed in the cluster or on GitHub.
func TestPreviewBadInputs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "bad")
	ctx := context.Background()
	dir := t.TempDir()
	withClusterRole := filepath.Join(dir, "role.yaml")
	require.NoError(t, os.WriteFile(withClusterRole, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"+
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: erlmcp-reader}\nrules: []\n"), 0o644))
	// Manifests only the API server can refuse (a port out of range): the namespace created for them goes again.
	serverRefused := testcluster.ExampleRelease(t, map[string]string{"zz-bad.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\n" +
		"spec:\n  ports: [{port: 99999}]\n"})
	_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pv-bad-31",
		Labels: map[string]string{"team": "payments"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tests := []struct {
		name   string
		event  string
		number int
		in     map[string]string
		want   string
	}{
		{"cluster-scoped object", "pull_request", 30, map[string]string{"manifests": withClusterRole, "image": ""},
			"::error file=" + withClusterRole + ",line=5,title=Invalid input manifests::" + withClusterRole + ":5: ClusterRole \"erlmcp-reader\" is cluster-scoped"},
		{"quota", "pull_request", 30, map[string]string{"quota-requests-cpu": "lots"}, "::error title=Invalid input quota-requests-cpu::\"lots\" is not a Kubernetes quantity"},
		{"request above limit", "pull_request", 30, map[string]string{"default-request-memory": "1Gi"}, "::error title=Invalid input default-request-memory::"},
		{"url placeholder", "pull_request", 30, map[string]string{"url-template": "https://{branch}.example.com"}, "unknown placeholder {branch}"},
		{"command", "pull_request", 30, map[string]string{"command": "sideways"}, "::error title=Invalid input command::"},
		{"pull_request_target", "pull_request_target", 30, nil, "refuses the pull_request_target event"},
		{"prefix", "pull_request", 30, map[string]string{"namespace-prefix": "Bad_"}, "::error title=Invalid input namespace-prefix::"},
		{"image", "pull_request", 30, map[string]string{"image": "ghcr.io/acme/erlmcp:"}, "::error title=Invalid input image::"},
		{"image in no container", "pull_request", 30, map[string]string{"image": "ghcr.io/acme/other:1"}, "no container or init container in the manifests runs repository ghcr.io/acme/other"},
		{"someone else's namespace", "pull_request", 31, nil, "namespace pv-bad-31 exists and is not the preview of pull request #31"},
		{"refused by the API server", "pull_request", 30, map[string]string{"manifests": serverRefused}, "namespace pv-bad-30 deleted again: the release was refused before any of it was applied"},
		{"reap without token", "schedule", 0, map[string]string{"github-token": ""}, "::error title=Invalid input github-token::is required with reap"},
		{"pull-request with reap", "workflow_dispatch", 0, map[string]string{"pull-request": "30"}, "::error title=Invalid input pull-request::"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writes := w.gh.WriteCalls()
			in := map[string]string{"manifests": release(t), "image": erlmcp + ":pr30"}
			for k, v := range tc.in {
				in[k] = v
			}
			payload := map[string]any{"repository": map[string]any{"full_name": w.repo}}
			if tc.number > 0 {
				payload = w.pullEvent("opened", tc.number, sha(tc.number), "", false)
			}
			s := w.run(tc.event, payload, in)
			assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
			assert.Contains(t, s.Log, tc.want)
			assert.Equal(t, writes, w.gh.WriteCalls(), "nothing written on GitHub")
			assert.Eventually(t, func() bool { _, ok := getNamespace(t, "pv-bad-30"); return !ok }, time.Minute, 250*time.Millisecond,
				"no namespace left (a namespace created for manifests the API server refused is deleted again)")
			other, ok := getNamespace(t, "pv-bad-31")
			require.True(t, ok)
			assert.Equal(t, map[string]string{"team": "payments"}, filterLabels(other.Labels), "someone else's namespace untouched")
			assert.Empty(t, other.Annotations)
		})
	}
}

// TestPreviewCancelledPush: a newer push cancels the older run (the
// workflow's concurrency group) in the middle of its rollout; the cancelled
// run leaves a preview the next push finishes: it serves, verified, with
// one comment.
func TestPreviewCancelledPush(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "cancel")
	w.gh.AddPull(githubfake.Pull{Number: 40, HeadSHA: sha(401)})
	ns := w.namespace(40)
	s := w.up("opened", 40, sha(401), "pr40-a", nil)
	require.Equal(t, 0, s.Code, s.Log)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan steptest.Step, 1)
	go func() {
		done <- w.runContext(ctx, "pull_request", w.pullEvent("synchronize", 40, sha(402), "", false),
			map[string]string{"manifests": release(t), "image": erlmcp + ":pr40-b-slowstart-60s"})
	}()
	require.Eventually(t, func() bool { return strings.HasSuffix(image(t, ns, "erlmcp"), "pr40-b-slowstart-60s") }, time.Minute, 100*time.Millisecond,
		"the second push's rollout started")
	time.Sleep(time.Second)
	cancel()
	var cancelled steptest.Step
	select {
	case cancelled = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the cancelled run did not end")
	}
	assert.NotEqual(t, 0, cancelled.Code, cancelled.Log)
	assert.Equal(t, "failed", cancelled.Output("status"))
	assert.Contains(t, w.gh.Comments(40)[0].Body, "Preview is up", "the cancelled run leaves the comment to the next run")

	s = w.up("synchronize", 40, sha(403), "pr40-c", nil)
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "up", s.Output("status"))
	assert.Equal(t, erlmcp+":pr40-c", image(t, ns, "erlmcp"))
	require.Len(t, w.gh.Comments(40), 1)
	assert.Contains(t, w.gh.Comments(40)[0].Body, "`0000403`")
	got, _ := getNamespace(t, ns)
	assert.Equal(t, sha(403), got.Annotations[pv.ServingSHAAnnotation])

	// Taken down by hand (workflow_dispatch with command and pull-request): the pull request is read from GitHub.
	s = w.run("workflow_dispatch", map[string]any{"repository": map[string]any{"full_name": w.repo}},
		map[string]string{"command": "down", "pull-request": "40"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "down", s.Output("status"))
	_, ok := getNamespace(t, ns)
	assert.False(t, ok)
	assert.Contains(t, w.gh.Comments(40)[0].Body, "Removed by octocat (command: down).")
}
