package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// TestUpReuseDown drives the commands behind make cluster-up/cluster-down,
// with the background cluster's state in a temporary directory.
func TestUpReuseDown(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the local cluster (make test runs it)")
	}
	bin := filepath.Join(t.TempDir(), "clusterctl")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	state := filepath.Join(t.TempDir(), "state")
	run := func(arg string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, arg)
		cmd.Env = append(os.Environ(), "ERLMCP_CLUSTER_STATE="+state)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "clusterctl %s: %s", arg, stderr.String())
		return stdout.String(), stderr.String()
	}
	t.Cleanup(func() { testcluster.StopDir(state) })

	stdout, _ := run("up")
	m := regexp.MustCompile(`(?m)^export KUBECONFIG=(\S+)$`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "up prints an export line: %q", stdout)
	kubeconfig := m[1]
	assert.True(t, filepath.IsAbs(kubeconfig))

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "the cluster outlives the up command")
	assert.Len(t, nodes.Items, 3)
	assertDefaultLogs(t, ctx, client)

	stdout2, stderr2 := run("up")
	assert.Contains(t, stderr2, "reusing the cluster at "+cfg.Host)
	assert.Equal(t, stdout, stdout2, "the same kubeconfig")

	c, err := testcluster.Attach(ctx, state)
	require.NoError(t, err)
	pids := c.PIDs()
	stopped, _ := run("down")
	assert.Contains(t, stopped, "stopped kwok (pid")
	assert.Contains(t, stopped, "default-logs (pid", "the default-logs component is stopped with the others")
	for name, pid := range pids {
		assert.False(t, testcluster.ProcessAlive(pid), "%s (pid %d) stopped", name, pid)
	}
	assert.NoDirExists(t, state)
	again, _ := run("down")
	assert.Equal(t, "no cluster was running\n", again)
}

// assertDefaultLogs: in a namespace created after up, a crashed pod's previous
// log is the cluster's default — the default-logs component, a process of
// its own, has named the namespace in the default logs.
func assertDefaultLogs(t *testing.T, ctx context.Context, client kubernetes.Interface) {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = client.AppsV1().Deployments("probe").Create(ctx, testcluster.Deployment("crasher", "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop", 1), metav1.CreateOptions{})
	require.NoError(t, err)
	var pod string
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("probe").List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 || len(pods.Items[0].Status.ContainerStatuses) == 0 {
			return false, nil
		}
		pod = pods.Items[0].Name
		return pods.Items[0].Status.ContainerStatuses[0].RestartCount > 0, nil
	}), "a crash-looping pod in namespace probe")
	prev, err := client.CoreV1().Pods("probe").GetLogs(pod, &corev1.PodLogOptions{Container: "erlmcp", Previous: true}).DoRaw(ctx)
	require.NoError(t, err)
	assert.Equal(t, testcluster.PreviousContainerLog, string(prev))
}
