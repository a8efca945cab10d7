package bluegreen_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/org/erlmcp-deploy/internal/bluegreen"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/progressive"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const v1 = "ghcr.io/acme/erlmcp:1.0.0"

var seq atomic.Int32

type env struct {
	t          *testing.T
	ctx        context.Context
	ns         string
	log        *ui.Buffer
	bg         *bluegreen.BlueGreen
	bluePods   []string
	baseSelect map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	ns := fmt.Sprintf("bluegreen-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", v1, 3)))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "erlmcp"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	_, err = cluster.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	e := &env{t: t, ctx: ctx, ns: ns, log: &ui.Buffer{}, baseSelect: map[string]string{"app": "erlmcp"}}
	log := ui.NewText(e.log, false)
	e.bg = &bluegreen.BlueGreen{Client: id.Client, Log: log, Deployer: &deploy.Deployer{Client: id.Client, Log: log}}
	e.bluePods = e.selected("erlmcp")
	require.Len(t, e.bluePods, 3)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", e.log.String())
		}
	})
	return e
}

// selected names the pods the Service's selector selects now.
func (e *env) selected(svc string) []string {
	s, err := cluster.Client.CoreV1().Services(e.ns).Get(e.ctx, svc, metav1.GetOptions{})
	require.NoError(e.t, err)
	pods, err := cluster.Client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.Spec.Selector).String()})
	require.NoError(e.t, err)
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (e *env) selector() map[string]string {
	s, err := cluster.Client.CoreV1().Services(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(e.t, err)
	return s.Spec.Selector
}

func (e *env) opts(image string) bluegreen.Options {
	return bluegreen.Options{Deploy: deploy.Options{Environment: "production", Namespace: e.ns, Deployment: "erlmcp", Image: image, Timeout: 2 * time.Minute,
		FailFast: true, RollbackOnFailure: true, Holder: e.t.Name(), BackupDir: e.t.TempDir()}, Service: "erlmcp"}
}

func (e *env) image() string {
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(e.t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

func (e *env) assertNothingLeft() {
	e.t.Helper()
	_, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-green", metav1.GetOptions{})
	assert.True(e.t, apierrors.IsNotFound(err), "green is gone: %v", err)
	_, err = cluster.Client.CoreV1().Services(e.ns).Get(e.ctx, "erlmcp-preview", metav1.GetOptions{})
	assert.True(e.t, apierrors.IsNotFound(err), "the preview service is gone: %v", err)
	assert.Equal(e.t, e.baseSelect, e.selector(), "the live selector is the user's again")
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(e.t, err)
	assert.NotContains(e.t, d.Annotations, canary.StateAnnotation)
}

func TestSwitchPreviewKeepAndFinish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.Keep = 3 * time.Second
	var previewed []string
	o.Preview = func(ctx context.Context, svc string) error {
		previewed = e.selected(svc)
		assert.Equal(t, e.bluePods, e.selected("erlmcp"), "before the switch the live service still selects only the old pods")
		return nil
	}
	var during []string
	o.Deploy.HealthCheck = func(ctx context.Context) error {
		during = e.selected("erlmcp")
		return nil
	}
	res, err := e.bg.Run(e.ctx, o)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Deploy.Status)
	require.Len(t, previewed, 3, "the preview service selects the three green pods")
	for _, p := range previewed {
		assert.True(t, strings.HasPrefix(p, "erlmcp-green-"), p)
	}
	assert.Equal(t, previewed, during, "after the switch the live service selects exactly the green pods")
	assert.False(t, res.Switched.IsZero())
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", e.image(), "the Deployment followed")
	e.assertNothingLeft()
	for _, p := range e.selected("erlmcp") {
		assert.False(t, strings.HasPrefix(p, "erlmcp-green-"), "only the Deployment's own pods serve at the end: %s", p)
	}
}

func TestSwitchBackWhenHealthFailsAfterTheSwitch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.Deploy.HealthCheck = func(context.Context) error { return errors.New("GET /health: 503") }
	res, err := e.bg.Run(e.ctx, o)
	require.Error(t, err)
	assert.True(t, res.SwitchedBack)
	assert.Less(t, res.SwitchBack, 5*time.Second, "a switch back takes seconds")
	assert.Equal(t, deploy.StatusRolledBack, res.Deploy.Status)
	assert.Equal(t, v1, e.image())
	assert.Equal(t, e.bluePods, e.selected("erlmcp"), "the very same old pods serve: none was started")
	e.assertNothingLeft()
}

func TestDoomedGreenNeverTakesTraffic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := e.bg.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0-fault-crashloop"))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusAborted, res.Deploy.Status)
	assert.True(t, res.Switched.IsZero())
	assert.Contains(t, res.Reason, "CrashLoopBackOff")
	assert.Equal(t, e.bluePods, e.selected("erlmcp"))
	e.assertNothingLeft()
}

func TestKilledDuringKeepIsSwitchedBackByTheNextRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.Keep = time.Hour
	o.Deploy.HealthCheck = func(context.Context) error {
		go func() { time.Sleep(500 * time.Millisecond); cancel() }() // the runner dies while keeping the old pods
		return nil
	}
	_, err := e.bg.Run(ctx, o)
	require.ErrorIs(t, err, context.Canceled)
	assert.NotEqual(t, e.bluePods, e.selected("erlmcp"), "green serves after the switch")

	settled, err := progressive.Settle(e.ctx, cluster.Client, e.ns, "erlmcp")
	require.NoError(t, err)
	assert.True(t, settled.SwitchedBack)
	assert.Contains(t, settled.String(), "switched back to the old pods")
	assert.Equal(t, e.bluePods, e.selected("erlmcp"))
	e.assertNothingLeft()
}

// killDuringKeep starts a blue-green of image and kills it while it keeps
// the old pods: green serves, the live Service is pinned to green's pods.
func (e *env) killDuringKeep(image string) []string {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	o := e.opts(image)
	o.Keep = time.Hour
	o.Deploy.HealthCheck = func(context.Context) error {
		go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		return nil
	}
	_, err := e.bg.Run(ctx, o)
	require.ErrorIs(e.t, err, context.Canceled)
	green := e.selected("erlmcp")
	require.Len(e.t, green, 3)
	for _, p := range green {
		require.True(e.t, strings.HasPrefix(p, "erlmcp-green-"), "green serves after the switch: %s", p)
	}
	return green
}

// allReady reports whether every pod the live Service selects is Ready.
func (e *env) allReady() bool {
	e.t.Helper()
	for _, name := range e.selected("erlmcp") {
		p, err := cluster.Client.CoreV1().Pods(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		require.NoError(e.t, err)
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if !ready {
			return false
		}
	}
	return true
}

// A canary after a killed blue-green first undoes the blue-green (the
// Service back on the old pods, green gone, unpinned), so the canary's pods
// take traffic; once promoted, the Service selects the new Ready pods and
// nothing of either strategy is left.
func TestCanaryAfterAKilledBlueGreen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.killDuringKeep("ghcr.io/acme/erlmcp:1.1.0")

	c := &canary.Canary{Client: e.bg.Client, Log: e.bg.Log, Deployer: e.bg.Deployer}
	o := e.opts("ghcr.io/acme/erlmcp:1.2.0").Deploy
	var duringStep []string
	res, err := c.Run(e.ctx, canary.Options{Deploy: o, Steps: []int{50}, Interval: 500 * time.Millisecond, Count: 2,
		Checks: func(ctx context.Context, deployment string) error {
			duringStep = e.selected("erlmcp")
			return nil
		}})
	require.NoError(t, err, "log:\n%s", e.log)
	assert.Equal(t, deploy.StatusSucceeded, res.Deploy.Status)
	assert.Contains(t, res.Cleaned, "undid the unfinished blue-green of ghcr.io/acme/erlmcp:1.1.0")
	assert.Contains(t, res.Cleaned, "switched back to the old pods")
	canaryPods := 0
	for _, p := range duringStep {
		assert.False(t, strings.HasPrefix(p, "erlmcp-green-"), "green no longer serves during the canary: %s", p)
		if strings.HasPrefix(p, "erlmcp-canary-") {
			canaryPods++
		}
	}
	assert.Equal(t, 2, canaryPods, "the live Service selects the canary's pods (50%% of 3)")
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.0", e.image())
	e.assertNothingLeft()
	_, err = cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the canary is gone: %v", err)
	assert.True(t, e.allReady(), "the live Service selects Ready pods only")
	for _, p := range e.selected("erlmcp") {
		assert.True(t, strings.HasPrefix(p, "erlmcp-"), p)
		assert.False(t, strings.HasPrefix(p, "erlmcp-green-") || strings.HasPrefix(p, "erlmcp-canary-"), p)
	}
}

// A rolling deploy whose undo of a killed blue-green fails (the deployer
// may no longer patch Services) stops before it changes anything: green
// keeps serving through the pinned Service, the Deployment's template is
// untouched, the record stays and the error says what to run. Its twin,
// once the permission is back, undoes the blue-green and rolls out.
func TestRollingDeployStopsWhenTheBlueGreenCannotBeUndone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	green := e.killDuringKeep("ghcr.io/acme/erlmcp:1.1.0")
	pinned := e.selector()

	role, err := cluster.Client.RbacV1().Roles(e.ns).Get(e.ctx, "erlmcp-deployer", metav1.GetOptions{})
	require.NoError(t, err)
	orig := role.DeepCopy()
	for i, r := range role.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "services" {
			role.Rules[i].Verbs = []string{"get", "list"}
		}
	}
	_, err = cluster.Client.RbacV1().Roles(e.ns).Update(e.ctx, role, metav1.UpdateOptions{})
	require.NoError(t, err)

	o := e.opts("ghcr.io/acme/erlmcp:1.2.0").Deploy
	res, err := e.bg.Deployer.Run(e.ctx, o)
	require.Error(t, err)
	var se *progressive.SettleError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "could not undo the unfinished blue-green of ghcr.io/acme/erlmcp:1.1.0 on deployment erlmcp")
	assert.Contains(t, err.Error(), "run deploy again or the rollback action with to: cleanup")
	assert.Equal(t, deploy.StatusFailed, res.Status)
	assert.Equal(t, v1, e.image(), "the Deployment was not touched")
	assert.Equal(t, pinned, e.selector(), "the Service is intact")
	assert.Equal(t, green, e.selected("erlmcp"), "green still serves")
	assert.True(t, e.allReady())
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, d.Annotations, progressive.StateAnnotation, "the state is left for the next run")
	_, err = cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp-green", metav1.GetOptions{})
	assert.NoError(t, err, "green was not removed under a Service that selects it")

	orig.ResourceVersion = ""
	cur, err := cluster.Client.RbacV1().Roles(e.ns).Get(e.ctx, "erlmcp-deployer", metav1.GetOptions{})
	require.NoError(t, err)
	orig.ResourceVersion = cur.ResourceVersion
	_, err = cluster.Client.RbacV1().Roles(e.ns).Update(e.ctx, orig, metav1.UpdateOptions{})
	require.NoError(t, err)
	res, err = e.bg.Deployer.Run(e.ctx, o)
	require.NoError(t, err, "log:\n%s", e.log)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.0", e.image())
	e.assertNothingLeft()
	assert.True(t, e.allReady())
	assert.Contains(t, e.log.String(), "undid the unfinished blue-green of ghcr.io/acme/erlmcp:1.1.0")
}
