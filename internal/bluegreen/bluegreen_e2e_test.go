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

	msg, err := bluegreen.Cleanup(e.ctx, cluster.Client, e.ns, "erlmcp")
	require.NoError(t, err)
	assert.Contains(t, msg, "switched back to the old pods")
	assert.Equal(t, e.bluePods, e.selected("erlmcp"))
	e.assertNothingLeft()
}
