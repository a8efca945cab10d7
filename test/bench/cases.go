package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/bootcause/bootcorpus"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

const (
	repo      = "ghcr.io/acme/erlmcp"
	prevImage = repo + ":1.0.0" // what serves before every release
)

// setupKind is the state of the namespace before the release.
type setupKind int

const (
	plain  setupKind = iota // 3 replicas of prevImage, maxSurge 1 / maxUnavailable 0
	aged                    // plain, its pods made long-serving: 7 restarts, last OOM-killed an hour ago (AgePods)
	pool                    // 1 replica asking for 20 CPUs, pinned to a node pool of one 32-CPU node: a surge pod does not fit
	quota0                  // plain under a ResourceQuota of 3 pods, maxUnavailable 0: the surge pod cannot be created
	quota1                  // the same with maxUnavailable 1: terminating old pods free the quota
)

// benchCase is one release of the matrix.
type benchCase struct {
	id      string // short, part of namespace names
	title   string // markdown
	doomed  bool
	setup   setupKind
	image   string
	scaleUp bool // play cluster-autoscaler: TriggeredScaleUp on the pending pod, a node scaleUpAfter later
	// bootLog is the corpus case (internal/bootcause/testdata/corpus/<bootLog>.log, real OTP output)
	// the namespace's crashed instances print; "" keeps the cluster's default logs, which name no cause.
	bootLog string
	// class is the failure-cause the bootLog names, for the first-crash section ("" for other cases).
	class string
}

const scaleUpAfter = 20 * time.Second

// cases: the doomed releases first, then their healthy-but-noisy twins.
var cases = []benchCase{
	{id: "imagepull", title: "`fault-imagepull`: image not found", doomed: true, image: repo + ":1.1.0-fault-imagepull"},
	{id: "crashloop", title: "`fault-crashloop`: crash loop (exit 1)", doomed: true, image: repo + ":1.1.0-fault-crashloop"},
	{id: "oom", title: "`fault-oom`: OOM-killed in a loop", doomed: true, image: repo + ":1.1.0-fault-oom"},
	{id: "configerror", title: "`fault-configerror`: secret not found", doomed: true, image: repo + ":1.1.0-fault-configerror"},
	{id: "ratelimit", title: "`fault-ratelimit`: 429 from the registry that never ends", doomed: true, image: repo + ":1.1.0-fault-ratelimit"},
	{id: "unsched", title: "unschedulable (no node fits), no scale-up under way", doomed: true, setup: pool, image: repo + ":1.1.0"},
	{id: "quota", title: "ResourceQuota `FailedCreate`, maxUnavailable 0 (nothing frees room)", doomed: true, setup: quota0, image: repo + ":1.1.0"},
	{id: "agedbad", title: "`fault-imagepull` onto long-serving pods (7 restarts, OOM kill an hour ago): rollback onto them", doomed: true, setup: aged, image: repo + ":1.1.0-fault-imagepull"},

	{id: "bootenv", title: "`fault-crashloop` whose crashed instance says `environment variable … is missing` (Elixir runtime.exs)", doomed: true,
		image: repo + ":1.1.0-fault-crashloop", bootLog: "missing-env/elixir-runtime-exs", class: "missing-env"},
	{id: "bootconf", title: "`fault-crashloop` whose crashed instance cannot parse sys.config", doomed: true,
		image: repo + ":1.1.0-fault-crashloop", bootLog: "config-syntax/sys-config-syntax", class: "config-syntax"},
	{id: "bootundef", title: "`fault-crashloop` whose crashed instance calls a function missing from the release", doomed: true,
		image: repo + ":1.1.0-fault-crashloop", bootLog: "undef/start-undef", class: "undef"},
	{id: "bootperm", title: "`fault-crashloop` whose crashed instance may not open a file", doomed: true,
		image: repo + ":1.1.0-fault-crashloop", bootLog: "permission/file-open", class: "permission"},
	{id: "bootnode", title: "`fault-crashloop` whose crashed instance has an invalid node name", doomed: true,
		image: repo + ":1.1.0-fault-crashloop", bootLog: "node-name/long-name-space", class: "node-name"},

	{id: "plain", title: "plain release, Ready at once", image: repo + ":1.1.0"},
	{id: "crashonce", title: "`crashonce`: crashes once, Ready after the 10 s back-off", image: repo + ":1.1.0-crashonce"},
	{id: "oomonce", title: "`oomonce`: OOM-killed once, Ready after the 10 s back-off", image: repo + ":1.1.0-oomonce"},
	{id: "pull429", title: "`pull429-15s`: rate-limited pulls for 15 s, then Ready", image: repo + ":1.1.0-pull429-15s"},
	{id: "slowstart", title: "`slowstart-5s`: Ready after 5 s", image: repo + ":1.1.0-slowstart-5s"},
	{id: "redeploy", title: "re-deploy of the serving image onto long-serving pods (7 restarts, OOM kill an hour ago)", setup: aged, image: prevImage},
	{id: "scaleup", title: "unschedulable while a scale-up is under way (`TriggeredScaleUp`, node after 20 s)", setup: pool, image: repo + ":1.1.0", scaleUp: true},
	{id: "quotafreed", title: "ResourceQuota `FailedCreate` freed by old pods terminating, maxUnavailable 1", setup: quota1, image: repo + ":1.1.0"},
	{id: "bootdns", title: "`crashonce` whose crashed instance says its database host does not resolve (transient: it waits)",
		image: repo + ":1.1.0-crashonce", bootLog: "dns/gen-tcp"},
	{id: "bootconn", title: "`crashonce` whose crashed instance was refused by its database (transient: it waits)",
		image: repo + ":1.1.0-crashonce", bootLog: "dependency-unreachable/gen-tcp"},
}

// corpusDir is the boot corpus, from the repository root (where make bench runs).
var corpusDir = filepath.Join("internal", "bootcause", "testdata", "corpus")

// bootLogText is a corpus case's log as the crashed instance printed it.
func bootLogText(name string) (string, error) { return bootcorpus.Log(corpusDir, name) }

func (bc benchCase) expected() string {
	if bc.doomed {
		return "rolled-back"
	}
	return "succeeded"
}

// prepare creates namespace ns in the state the case starts from and waits
// until the previous version serves complete and Available.
func prepare(ctx context.Context, c *testcluster.Cluster, bc benchCase, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if bc.bootLog != "" {
		log, err := bootLogText(bc.bootLog)
		if err != nil {
			return err
		}
		if _, err := c.NamespaceLogs(ctx, ns, testcluster.ContainerLogs{Previous: log}); err != nil {
			return fmt.Errorf("logs of %s: %w", ns, err)
		}
	}
	d := testcluster.Deployment("erlmcp", prevImage, 3)
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "initial"}
	switch bc.setup {
	case pool:
		if err := addPoolNode(ctx, c, ns+"-a", ns); err != nil {
			return err
		}
		d.Spec.Replicas = ptr.To(int32(1))
		d.Spec.Template.Spec.NodeSelector = map[string]string{"pool": ns}
		d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20")}
	case quota1:
		d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	}
	if err := c.CreateAvailable(ctx, ns, d); err != nil {
		return err
	}
	switch bc.setup {
	case aged:
		return c.AgePods(ctx, ns, "app=erlmcp", 7, true)
	case quota0, quota1:
		if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create quota in %s: %w", ns, err)
		}
		// The resourcequota controller must have counted the pods, or admission enforces nothing yet.
		return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			q, err := c.Client.CoreV1().ResourceQuotas(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			used := q.Status.Used[corev1.ResourcePods]
			return used.Value() == 3, nil
		})
	}
	return nil
}

func addPoolNode(ctx context.Context, c *testcluster.Cluster, name, pool string) error {
	if err := c.AddNode(ctx, name, "32"); err != nil {
		return err
	}
	_, err := c.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType,
		[]byte(fmt.Sprintf(`{"metadata":{"labels":{"pool":%q}}}`, pool)), metav1.PatchOptions{})
	return err
}

// autoscaler plays cluster-autoscaler for a pool case: once a pod of image
// is unschedulable it records TriggeredScaleUp on it, and scaleUpAfter later
// a node joins the pool. The result arrives on the channel.
func autoscaler(ctx context.Context, c *testcluster.Cluster, ns, image string) <-chan error {
	done := make(chan error, 1)
	go func() {
		var pending *corev1.Pod
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp"})
			if err != nil {
				return false, nil
			}
			for i, p := range pods.Items {
				for _, cond := range p.Status.Conditions {
					if p.Spec.Containers[0].Image == image && cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable {
						pending = &pods.Items[i]
						return true, nil
					}
				}
			}
			return false, nil
		})
		if err == nil {
			err = c.ScaleUpEvent(ctx, pending, testcluster.ReasonTriggeredScaleUp, "")
		}
		if err == nil {
			select {
			case <-time.After(scaleUpAfter):
				err = addPoolNode(ctx, c, ns+"-b", ns)
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		done <- err
	}()
	return done
}
