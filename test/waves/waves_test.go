// Package waves_test deploys to three real control planes at once, wave by
// wave, through the deploy action as its binary runs it.
package waves_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/deploy"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// clusters are three control planes, named as a team would name its contexts.
var clusters = map[string]*testcluster.Cluster{}

var names = []string{"canary-eu", "prod-eu", "prod-us"}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "-short: no control planes started; make test runs these")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed error
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := testcluster.New(ctx, testcluster.Options{Nodes: 2})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = fmt.Errorf("start %s: %w", n, err)
				return
			}
			clusters[n] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clusters {
			_ = c.Stop()
		}
	}()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", failed)
		return 1
	}
	return m.Run()
}

const v1 = "ghcr.io/acme/erlmcp:1.0.0"

var seq atomic.Int32

// fleet is one namespace in each cluster with the deployer identity and
// erlmcp serving v1, and one kubeconfig whose contexts reach them all (each
// context names its namespace, which wins over the namespace input).
func fleet(t *testing.T) (kubeconfig string, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns = fmt.Sprintf("waves-%d", seq.Add(1))
	merged := clientcmdapi.NewConfig()
	for _, n := range names {
		c := clusters[n]
		id, err := c.Deployer(ctx, ns)
		require.NoError(t, err)
		require.NoError(t, c.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", v1, 2)))
		kc, err := clientcmd.LoadFromFile(id.Kubeconfig)
		require.NoError(t, err)
		cur := kc.Contexts[kc.CurrentContext]
		merged.Clusters[n] = kc.Clusters[cur.Cluster]
		merged.AuthInfos[n] = kc.AuthInfos[cur.AuthInfo]
		merged.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n, Namespace: ns}
	}
	merged.CurrentContext = names[0]
	b, err := clientcmd.Write(*merged)
	require.NoError(t, err)
	return string(b), ns
}

func image(t *testing.T, name, ns string) string {
	t.Helper()
	d, err := clusters[name].Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

// quotaFull leaves no room for one more pod in ns of cluster name: a real
// per-cluster failure (the ReplicaSet cannot create its surge pod).
func quotaFull(t *testing.T, name, ns string) {
	t.Helper()
	_, err := clusters[name].Client.CoreV1().ResourceQuotas(ns).Create(context.Background(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

type clusterOut struct {
	Context, Status, Revision, Namespace string
	PreviousRevision                     string `json:"previous-revision"`
	Wave                                 int
	RolledBack                           bool   `json:"rolled-back"`
	ScopeRollback                        string `json:"scope-rollback"`
	FailureReason                        string `json:"failure-reason"`
}

func clustersOutput(t *testing.T, s steptest.Step) map[string]clusterOut {
	t.Helper()
	var list []clusterOut
	require.NoError(t, json.Unmarshal([]byte(s.Output("clusters")), &list), s.Output("clusters"))
	out := map[string]clusterOut{}
	for _, c := range list {
		out[c.Context] = c
	}
	return out
}

func runDeploy(ctx context.Context, t *testing.T, gh *githubfake.Server, inputs map[string]string) steptest.Step {
	t.Helper()
	env := map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "4242",
		"GITHUB_ACTOR": "octocat", "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567"}
	if gh != nil {
		env["GITHUB_API_URL"] = gh.URL
	}
	return steptest.RunContext(ctx, t, actionspec.Deploy(), deploy.Run, inputs, env)
}

func TestWavesSucceedEverywhere(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	gh := githubfake.New("acme", "erlmcp")
	defer gh.Close()
	s := runDeploy(context.Background(), t, gh, map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.1.0",
		"kubeconfig": kc, "contexts": "canary-eu\nprod-eu, prod-us", "github-token": "ghp_fakeTokenForTheFake0000000000000000",
		"environment-url": "https://erlmcp.example.com"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	out := clustersOutput(t, s)
	for _, n := range names {
		assert.Equal(t, "succeeded", out[n].Status, n)
		assert.Equal(t, "2", out[n].Revision, n)
		assert.Equal(t, "1", out[n].PreviousRevision, n)
		assert.Equal(t, ns, out[n].Namespace, "the run names no namespace: the context's, as kubectl (and as a single context) does")
		assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", image(t, n, ns))
	}
	assert.Equal(t, 1, out["canary-eu"].Wave)
	assert.Equal(t, 2, out["prod-us"].Wave)
	assert.Contains(t, s.Log, "[prod-eu] ── Pre-flight: deployment "+ns+"/erlmcp (production) ──", "a wave's contexts log side by side, prefixed")
	assert.Contains(t, s.Log, "::group::[canary-eu] Pre-flight", "a wave of one context keeps its groups")
	assert.Contains(t, s.Summary, "## ✅ Deploy to production: 3 contexts in 2 waves, succeeded")
	assert.Contains(t, s.Summary, "| 2 | `prod-us` | `"+ns+"` | 1 | 2 | succeeded |")
	assert.Empty(t, s.Leaks("ghp_fakeTokenForTheFake0000000000000000"))

	deps := gh.Deployments()
	require.Len(t, deps, 3)
	envs := map[string][]string{}
	for _, d := range deps {
		var states []string
		for _, st := range d.Statuses {
			states = append(states, st.State)
		}
		envs[d.Environment] = states
	}
	for _, n := range names {
		assert.Equal(t, []string{"in_progress", "success"}, envs["production/"+n], n)
	}
}

func TestSecondWaveFailureHaltsTheRestAndRollsBackTheWave(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	quotaFull(t, "prod-eu", ns)
	gh := githubfake.New("acme", "erlmcp")
	defer gh.Close()
	s := runDeploy(context.Background(), t, gh, map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.1.0",
		"kubeconfig": kc, "contexts": "canary-eu\nprod-eu\nprod-us", "rollback-scope": "all", "github-token": "ghp_fakeTokenForTheFake0000000000000000"})
	if os.Getenv("SHOW_LOG") != "" {
		t.Log(s.Log + "\n" + s.Summary)
	}
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	out := clustersOutput(t, s)
	assert.Equal(t, "rolled-back", out["canary-eu"].Status, "rollback-scope all: the first wave's change is rolled back too")
	assert.Equal(t, "succeeded", out["canary-eu"].ScopeRollback)
	assert.Equal(t, "3", out["canary-eu"].Revision, "revision now is the one the scope rollback made")
	assert.Equal(t, v1, image(t, "canary-eu", ns))
	assert.Contains(t, []string{"failed", "rolled-back"}, out["prod-eu"].Status)
	assert.Contains(t, out["prod-eu"].FailureReason, "exceeded quota")
	assert.Equal(t, v1, image(t, "prod-eu", ns))
	assert.Equal(t, "halted", out["prod-us"].Status, "the wave after the failure never starts")
	assert.Equal(t, v1, image(t, "prod-us", ns))
	assert.Contains(t, s.Summary, "wave 2 did not succeed: the waves after it were not started")
	assert.Regexp(t, "(?s)### Timeline\n\n```mermaid\ngantt\n.*\n    section canary-eu \\(wave 1\\)\n.*\n    Rollout of revision 1 :active, .*\n    section prod-eu \\(wave 2\\)\n.* :crit, milestone, ",
		s.Summary, "a lane per context: canary-eu's rollback-scope rollback in its lane, prod-eu's failure in its own")

	envs := map[string][]string{}
	for _, d := range gh.Deployments() {
		for _, st := range d.Statuses {
			envs[d.Environment] = append(envs[d.Environment], st.State)
		}
	}
	assert.NotContains(t, envs, "production/prod-us", "a halted context gets no GitHub deployment")
	assert.Equal(t, []string{"in_progress", "failure"}, envs["production/prod-eu"])
}

func TestScopeFailedLeavesTheFirstWave(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	quotaFull(t, "prod-us", ns)
	s := runDeploy(context.Background(), t, nil, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0",
		"kubeconfig": kc, "contexts": "canary-eu\nprod-eu, prod-us", "rollback-scope": "failed"})
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	out := clustersOutput(t, s)
	assert.Equal(t, "succeeded", out["canary-eu"].Status)
	assert.Equal(t, "succeeded", out["prod-eu"].Status, "rollback-scope failed: the sibling that succeeded stays")
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", image(t, "prod-eu", ns))
	assert.Equal(t, v1, image(t, "prod-us", ns))
}

func TestCancelledMidWave(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel while the first wave waits for pods that never become Ready.
		time.Sleep(4 * time.Second)
		cancel()
	}()
	s := runDeploy(ctx, t, nil, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0-fault-neverready",
		"kubeconfig": kc, "contexts": "canary-eu, prod-eu\nprod-us", "timeout": "5m"})
	assert.NotEqual(t, 0, s.Code, s.Log)
	out := clustersOutput(t, s)
	assert.Equal(t, "cancelled", out["prod-us"].Status, "nothing starts after a cancel")
	assert.Equal(t, v1, image(t, "prod-us", ns))
	for _, n := range []string{"canary-eu", "prod-eu"} {
		assert.Equal(t, "failed", out[n].Status, n)
		leases, err := clusters[n].Client.CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, leases.Items, "%s: the deploy lock is released", n)
	}
	assert.Contains(t, s.Log, "[canary-eu] ")
}

func TestRollbackEveryContextAndGitHubMarksTheRestoredOnes(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	gh := githubfake.New("acme", "erlmcp")
	defer gh.Close()
	in := map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.1.0", "kubeconfig": kc,
		"contexts": "canary-eu\nprod-eu, prod-us", "github-token": "ghp_fakeTokenForTheFake0000000000000000"}
	s := runDeploy(context.Background(), t, gh, in)
	require.Equal(t, 0, s.Code, s.Log)

	env := map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "4243",
		"GITHUB_ACTOR": "octocat", "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_API_URL": gh.URL}
	rb := steptest.Run(t, actionspec.Rollback(), rollback.Run, map[string]string{"environment": "production", "confirm": "production",
		"kubeconfig": kc, "contexts": "canary-eu\nprod-eu, prod-us", "github-token": "ghp_fakeTokenForTheFake0000000000000000"}, env)
	require.Equal(t, 0, rb.Code, rb.Log)
	assert.Equal(t, "succeeded", rb.Output("status"))
	var list []clusterOut
	require.NoError(t, json.Unmarshal([]byte(rb.Output("clusters")), &list))
	require.Len(t, list, 3)
	for _, c := range list {
		assert.Equal(t, "succeeded", c.Status, c.Context)
		assert.Equal(t, v1, image(t, c.Context, ns), c.Context)
	}
	assert.Contains(t, rb.Summary, "Rollback to production: 3 contexts in 2 waves, succeeded")
	// Each context's 1.1.0 deployment is inactive now; a deployment of what was restored is the active one.
	byEnv := map[string][]string{}
	for _, d := range gh.Deployments() {
		byEnv[d.Environment] = append(byEnv[d.Environment], strings.Join(d.States(), ","))
	}
	for _, n := range names {
		assert.Equal(t, []string{"in_progress,success,inactive", "in_progress,success"}, byEnv["production/"+n], n)
	}
}

func TestGitHubOutageOnlyWarns(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	gh := githubfake.New("acme", "erlmcp")
	defer gh.Close()
	gh.FailNext("POST", "/repos/acme/erlmcp/deployments", 1000, 503, nil)
	s := runDeploy(context.Background(), t, gh, map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.1.0",
		"kubeconfig": kc, "contexts": "canary-eu, prod-eu", "github-token": "ghp_fakeTokenForTheFake0000000000000000"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Contains(t, s.Log, "::warning::")
	assert.Contains(t, s.Log, "503")
	assert.Empty(t, gh.Deployments())
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", image(t, "prod-eu", ns))
}

func TestOneSlackMessageUpdatedPerWave(t *testing.T) {
	t.Parallel()
	kc, _ := fleet(t)
	const token = "xoxb-erlmcp-waves-SECRET"
	fake, api := slackfake.New(t, token)
	env := map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "4244",
		"GITHUB_ACTOR": "octocat", "ERLMCP_SLACK_API_URL": api}
	s := steptest.Run(t, actionspec.Deploy(), deploy.Run, map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.1.0",
		"kubeconfig": kc, "contexts": "canary-eu\nprod-eu, prod-us", "slack-token": token, "slack-channel": "C0DEPLOYS"}, env)
	require.Equal(t, 0, s.Code, s.Log)
	calls := fake.Calls()
	var methods []string
	for _, c := range calls {
		methods = append(methods, c.Method)
	}
	assert.Equal(t, []string{"chat.postMessage", "chat.update", "chat.update", "chat.update"}, methods,
		"one message: posted when the run starts, updated after each of the two waves and at the end")
	ts := s.Output("slack-ts")
	for _, c := range calls[1:] {
		assert.Equal(t, ts, c.Form.Get("ts"))
	}
	afterWave1 := calls[1].Form.Get("blocks") + calls[1].Form.Get("attachments")
	assert.Contains(t, afterWave1, "canary-eu: succeeded")
	final := fake.Message(ts)
	assert.Contains(t, final.Get("blocks")+final.Get("attachments"), "prod-us: succeeded")
	assert.Empty(t, s.Leaks(token))
}

func TestUnknownContextChangesNothing(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	s := runDeploy(context.Background(), t, nil, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0",
		"kubeconfig": kc, "contexts": "canary-eu\nprod-ap"})
	assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
	assert.Contains(t, s.Log, `::error title=Invalid input contexts::kubeconfig from the kubeconfig input has no context "prod-ap"; its contexts are canary-eu, prod-eu, prod-us`)
	assert.Equal(t, v1, image(t, "canary-eu", ns), "nothing changed")
	_ = filepath.Join
}

// webRelease is a small manifest release, web: a ConfigMap and a one-pod
// Deployment (beside the fleet's erlmcp, which it does not touch).
func webRelease(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	text := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata: {greeting: hello}\n---\n" +
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n" +
		"  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: ghcr.io/acme/web:1.0.0}]\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(text), 0o644))
	return dir
}

func webImage(t *testing.T, name, ns string) string {
	t.Helper()
	d, err := clusters[name].Client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

// TestScopeAllLeavesTheContextThatAlreadyServedTheRelease: canary-eu
// already serves release web 2.0.0 (revision 1) when a run deploys it to
// canary-eu and prod-us (wave 1), then prod-eu (wave 2), which fails. With
// rollback-scope all, prod-us, which the run changed, is rolled back; the
// unchanged canary-eu is reported unchanged (revision 1, was 1), is not
// touched, and its revision is not recorded as failed.
func TestScopeAllLeavesTheContextThatAlreadyServedTheRelease(t *testing.T) {
	t.Parallel()
	kc, ns := fleet(t)
	dir := webRelease(t)
	single := func(context, image string) {
		s := runDeploy(t.Context(), t, nil, map[string]string{"environment": "production", "kubeconfig": kc, "context": context, "namespace": ns,
			"manifests": dir, "release": "web", "image": image})
		require.Equal(t, 0, s.Code, s.Log)
		require.Equal(t, "1", s.Output("revision"))
	}
	single("canary-eu", "ghcr.io/acme/web:2.0.0")
	single("prod-us", "ghcr.io/acme/web:1.0.0")
	single("prod-eu", "ghcr.io/acme/web:1.0.0")
	quotaFull(t, "prod-eu", ns)

	s := runDeploy(t.Context(), t, nil, map[string]string{"environment": "production", "kubeconfig": kc, "contexts": "canary-eu, prod-us\nprod-eu",
		"rollback-scope": "all", "manifests": dir, "release": "web", "image": "ghcr.io/acme/web:2.0.0"})
	if os.Getenv("SHOW_LOG") != "" {
		t.Log(s.Log + "\n" + s.Summary)
	}
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	out := clustersOutput(t, s)

	canary := out["canary-eu"]
	assert.Equal(t, "succeeded", canary.Status, "the unchanged context succeeded")
	assert.Equal(t, "1", canary.Revision, "no new revision for an unchanged release")
	assert.Equal(t, "1", canary.PreviousRevision)
	assert.Equal(t, "unchanged", canary.ScopeRollback, "rollback-scope all leaves a context the run did not change")
	assert.False(t, canary.RolledBack)
	assert.Equal(t, "ghcr.io/acme/web:2.0.0", webImage(t, "canary-eu", ns))
	revs, err := inventory.Store{Client: clusters["canary-eu"].Client, Namespace: ns}.List(context.Background(), "web")
	require.NoError(t, err)
	require.Equal(t, 1, len(revs), "canary-eu's history is untouched")
	assert.Equal(t, inventory.Deployed, revs[0].Status, "the serving revision is not marked failed")

	assert.Equal(t, "succeeded", out["prod-us"].ScopeRollback, "the context the run changed is rolled back")
	assert.Equal(t, "rolled-back", out["prod-us"].Status)
	assert.Equal(t, "ghcr.io/acme/web:1.0.0", webImage(t, "prod-us", ns))

	assert.Contains(t, []string{"failed", "rolled-back"}, out["prod-eu"].Status)
	assert.Contains(t, out["prod-eu"].FailureReason, "exceeded quota")
	assert.Equal(t, "ghcr.io/acme/web:1.0.0", webImage(t, "prod-eu", ns))
}
