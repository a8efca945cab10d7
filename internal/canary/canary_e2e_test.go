package canary_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/analysis"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const v1 = "ghcr.io/acme/erlmcp:1.0.0"

var seq atomic.Int32

// env is a namespace with a 4-replica stable erlmcp serving v1, the
// deployer identity, and a real Prometheus scraping two fake services that
// stand for the canary's and the baseline's pods.
type env struct {
	t                *testing.T
	ctx              context.Context
	ns               string
	log              *ui.Buffer
	c                *canary.Canary
	prom             *testcluster.Prometheus
	canarySvc, bsSvc *testcluster.FakeService
	stablePods       []string
}

func newEnv(t *testing.T, canaryErrors, canaryLatency float64) *env {
	t.Helper()
	e := newBakeEnv(t)
	e.canarySvc = testcluster.NewFakeService(t, canaryErrors, canaryLatency)
	e.bsSvc = testcluster.NewFakeService(t, 0.001, 0.1)
	e.prom = testcluster.StartPrometheus(t,
		testcluster.ScrapeTarget{Addr: e.canarySvc.Addr, Labels: map[string]string{"track": "canary"}},
		testcluster.ScrapeTarget{Addr: e.bsSvc.Addr, Labels: map[string]string{"track": "baseline"}})
	require.NoError(t, e.prom.WaitScraped(e.ctx, 2))
	return e
}

// podsOf are the names of the pods of the stable Deployment (not canary or baseline).
func (e *env) podsOf(app string) []string {
	list, err := cluster.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + app + ",!" + canary.TrackLabel})
	require.NoError(e.t, err)
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

const errorRate = `metrics:
  - name: error-rate
    query: sum(rate(http_requests_total{track="{{track}}",code="500"}[5s])) / sum(rate(http_requests_total{track="{{track}}"}[5s]))
    max: 0.05
`

func (e *env) opts(image, spec string, steps ...int) canary.Options {
	e.t.Helper()
	var s *analysis.Spec
	if spec != "" {
		var err error
		s, err = analysis.Parse("analysis.yaml", []byte(spec))
		require.NoError(e.t, err)
	}
	src, err := analysis.NewPrometheus(e.prom.URL)
	require.NoError(e.t, err)
	return canary.Options{
		Deploy: deploy.Options{Environment: "production", Namespace: e.ns, Deployment: "erlmcp", Image: image, Timeout: 2 * time.Minute,
			FailFast: true, RollbackOnFailure: true, Holder: e.t.Name(), InitContainers: true, BackupDir: e.t.TempDir()},
		Steps: steps, Interval: 2 * time.Second, Count: 3, Analysis: s, Source: src,
	}
}

func (e *env) stableImage() string {
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(e.t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

func (e *env) assertNoCanaryLeft() {
	e.t.Helper()
	for _, track := range []string{"canary", "baseline"} {
		_, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-"+track, metav1.GetOptions{})
		assert.True(e.t, apierrors.IsNotFound(err), "erlmcp-%s is gone: %v", track, err)
	}
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(e.t, err)
	assert.NotContains(e.t, d.Annotations, canary.StateAnnotation)
}

func TestGoodCanaryIsPromotedThroughTwoSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0.001, 0.1)
	res, err := e.c.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0", errorRate, 25, 50))
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Deploy.Status)
	require.Len(t, res.Steps, 2)
	assert.Equal(t, int32(1), res.Steps[0].Canary, "25%% of 4")
	assert.Equal(t, int32(2), res.Steps[1].Canary, "50%% of 4")
	for _, s := range res.Steps {
		require.NotNil(t, s.Analysis)
		assert.Equal(t, analysis.Pass, s.Analysis.Outcome)
	}
	assert.InDelta(t, 2.0/6, res.MaxShare, 1e-9)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", e.stableImage(), "promoted")
	e.assertNoCanaryLeft()
	assert.Contains(t, e.log.String(), "promoting ghcr.io/acme/erlmcp:1.1.0")
}

func TestDoomedCanaryIsAbortedByFailFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0.001, 0.1)
	start := time.Now()
	res, err := e.c.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0-fault-imagepull", errorRate, 25, 50))
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Minute)
	assert.Equal(t, deploy.StatusAborted, res.Deploy.Status)
	assert.Contains(t, res.AbortReason, "ErrImagePull")
	require.Len(t, res.Steps, 1, "aborted at the first step")
	assert.NotNil(t, res.Diagnostics)
	assert.Equal(t, v1, e.stableImage())
	assert.Equal(t, e.stablePods, e.podsOf("erlmcp"), "stable's pods were never replaced")
	e.assertNoCanaryLeft()
}

func TestErrorRateBreachIsAbortedByAnalysis(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0.30, 0.1) // the canary answers 30% of requests with 500
	res, err := e.c.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0", errorRate, 25, 50))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusAborted, res.Deploy.Status)
	assert.Contains(t, res.AbortReason, "error-rate")
	assert.Contains(t, res.AbortReason, "> max 0.05")
	require.Len(t, res.Steps, 1)
	assert.Equal(t, v1, e.stableImage())
	assert.Equal(t, e.stablePods, e.podsOf("erlmcp"))
	e.assertNoCanaryLeft()
}

func TestNoDataIsInconclusive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0.001, 0.1)
	missing := strings.ReplaceAll(errorRate, "http_requests_total", "erlmcp_requests_not_exported_total")
	res, err := e.c.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0", missing, 25))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusAborted, res.Deploy.Status, "inconclusive: abort (the default) — never a pass")
	assert.Contains(t, res.AbortReason, "inconclusive")
	assert.Equal(t, v1, e.stableImage())
	e.assertNoCanaryLeft()

	// With inconclusive: wait the canary stays for a person, who promotes it.
	res, err = e.c.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0", "inconclusive: wait\n"+missing, 25))
	require.Error(t, err)
	assert.True(t, res.Waiting)
	assert.Equal(t, deploy.StatusPaused, res.Deploy.Status)
	_, err = cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-canary", metav1.GetOptions{})
	require.NoError(t, err, "the canary is left running")
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0", "", 25)
	o.Decision = "promote"

	// A decision applies only to what the canary tried: with stable's pod
	// template changed since (another writer), promote is refused as bad
	// input and nothing changes; back as it was, it is accepted.
	note := func(v any) {
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{"note": v}}}}})
		_, err := cluster.Client.AppsV1().Deployments(e.ns).Patch(e.ctx, "erlmcp", types.MergePatchType, patch, metav1.PatchOptions{})
		require.NoError(t, err)
		require.NoError(t, cluster.WaitAvailable(e.ctx, e.ns, "erlmcp"))
	}
	note("edited by hand")
	_, err = e.c.Run(e.ctx, o)
	var de *canary.DecisionError
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Msg, "tried other pod templates than these inputs give")
	_, err = cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-canary", metav1.GetOptions{})
	require.NoError(t, err, "the canary is still there")
	assert.Equal(t, v1, e.stableImage())
	note(nil)

	res, err = e.c.Run(e.ctx, o)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Deploy.Status)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", e.stableImage())
	e.assertNoCanaryLeft()
}

func TestKilledCanaryIsCleanedByTheNextRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0.001, 0.1)
	ctx, cancel := context.WithCancel(e.ctx)
	go func() {
		for ctx.Err() == nil {
			if strings.Contains(e.log.String(), "analysis, 3 measurements") {
				cancel() // the runner dies mid-analysis
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_, err := e.c.Run(ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0", errorRate, 25, 50))
	require.Error(t, err)
	_, err = cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-canary", metav1.GetOptions{})
	require.NoError(t, err, "a killed run leaves its canary")
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	require.Contains(t, d.Annotations, canary.StateAnnotation, "and says so on the stable Deployment")

	res, err := e.c.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.2.0", errorRate, 50))
	require.NoError(t, err)
	assert.Contains(t, res.Cleaned, "undid the unfinished canary of ghcr.io/acme/erlmcp:1.1.0")
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.0", e.stableImage())
	e.assertNoCanaryLeft()
}

func TestJudgeComparesCanaryWithBaseline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0.001, 0.5) // the canary is 5x slower than the baseline
	latency := "metrics:\n  - name: latency\n    query: avg(http_request_duration_seconds{track=\"{{track}}\"})\n    judge: {direction: increase, step: 1s}\n"
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0", latency, 50)
	o.Interval = 4 * time.Second
	res, err := e.c.Run(e.ctx, o)
	require.Error(t, err)
	assert.Equal(t, deploy.StatusAborted, res.Deploy.Status)
	assert.Contains(t, res.AbortReason, "significantly worse")
	e.assertNoCanaryLeft()
}

// newBakeEnv is a namespace with a 4-replica stable erlmcp serving v1 and
// the deployer identity, without Prometheus (the bake needs none).
func newBakeEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	t.Cleanup(cancel)
	ns := fmt.Sprintf("canary-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", v1, 4)))
	e := &env{t: t, ctx: ctx, ns: ns, log: &ui.Buffer{}}
	log := ui.NewText(e.log, false)
	e.c = &canary.Canary{Client: id.Client, Log: log, Deployer: &deploy.Deployer{Client: id.Client, Log: log}}
	e.stablePods = e.podsOf("erlmcp")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", e.log.String())
		}
	})
	return e
}

func (e *env) bakeOpts(image string) canary.Options {
	return canary.Options{
		Deploy: deploy.Options{Environment: "production", Namespace: e.ns, Deployment: "erlmcp", Image: image, Timeout: 2 * time.Minute,
			FailFast: true, RollbackOnFailure: true, Holder: e.t.Name(), BackupDir: e.t.TempDir()},
		Steps: []int{50}, Interval: time.Second, Count: 5,
	}
}

// A canary that is Ready at once and crashes 2 s later is judged through
// its bake (5 × 1 s), not only until its first Ready: it is aborted, with
// stable untouched and nothing left.
func TestCanaryThatCrashesAfterItsFirstReadyIsAborted(t *testing.T) {
	t.Parallel()
	e := newBakeEnv(t)
	res, err := e.c.Run(e.ctx, e.bakeOpts("ghcr.io/acme/erlmcp:1.1.0-crashafter-2s"))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusAborted, res.Deploy.Status)
	require.Len(t, res.Steps, 1)
	assert.Empty(t, res.Steps[0].Verdict, "the canary passed its first verification")
	assert.Regexp(t, `canary pod erlmcp-canary-\S+ (restarted during its bake|stopped being Ready during its bake)`, res.AbortReason)
	require.NotNil(t, res.Deploy.Diagnostics, "the evidence is collected before the canary goes")
	assert.Equal(t, v1, e.stableImage())
	assert.Equal(t, e.stablePods, e.podsOf("erlmcp"), "stable's pods are the same")
	e.assertNoCanaryLeft()
}

// The twin: a canary that stays Ready through its bake is promoted, and
// the step held for the bake time before it passed.
func TestCanaryThatStaysReadyThroughItsBakeIsPromoted(t *testing.T) {
	t.Parallel()
	e := newBakeEnv(t)
	_, err := cluster.Client.PolicyV1().PodDisruptionBudgets(e.ns).Create(e.ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(3)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "erlmcp"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	res, err := e.c.Run(e.ctx, e.bakeOpts("ghcr.io/acme/erlmcp:1.1.0"))
	require.NoError(t, err)
	assert.Contains(t, e.log.String(), "also count in PodDisruptionBudget erlmcp (it counts the canary's pods as healthy pods of stable)")
	assert.Equal(t, deploy.StatusSucceeded, res.Deploy.Status)
	require.Len(t, res.Steps, 1)
	assert.GreaterOrEqual(t, res.Steps[0].Elapsed, 5*time.Second, "the step is held for its bake")
	assert.Contains(t, e.log.String(), "stayed Ready through the bake")
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", e.stableImage())
	e.assertNoCanaryLeft()
}

// A stable Deployment scaled to 0 gets no canary (it would take all of its
// traffic): refused before anything changes.
func TestCanaryOfAStableAtZeroIsRefused(t *testing.T) {
	t.Parallel()
	e := newBakeEnv(t)
	_, err := cluster.Client.AppsV1().Deployments(e.ns).UpdateScale(e.ctx, "erlmcp", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", Namespace: e.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 0}}, metav1.UpdateOptions{})
	require.NoError(t, err)
	res, err := e.c.Run(e.ctx, e.bakeOpts("ghcr.io/acme/erlmcp:1.1.0"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has 0 replicas: a canary of it would take all of its traffic")
	assert.Contains(t, err.Error(), "nothing was changed")
	assert.Empty(t, res.Steps)
	e.assertNoCanaryLeft()
}
