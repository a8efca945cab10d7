package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/bootcause/bootcorpus"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// corpusLog is a boot corpus case's log (real OTP 25 / Elixir 1.14 output).
func corpusLog(t *testing.T, name string) string {
	t.Helper()
	log, err := bootcorpus.Log(filepath.Join("..", "..", "bootcause", "testdata", "corpus"), name)
	require.NoError(t, err)
	return log
}

// bootTarget is target with one replica whose crashed instances print log
// (its namespace's own logs), the Deployment changed by mut first.
func bootTarget(t *testing.T, log string, mut func(*appsv1.Deployment)) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-boot-%d", seq.Add(1))
	require.NoError(t, cluster.EnsureNamespace(ctx, ns))
	cleanup, err := cluster.NamespaceLogs(ctx, ns, testcluster.ContainerLogs{Previous: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cleanup() })
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	d := testcluster.Deployment("erlmcp", v1, 1)
	if mut != nil {
		mut(d)
	}
	require.NoError(t, cluster.CreateAvailable(ctx, ns, d))
	kc, err := os.ReadFile(id.Kubeconfig)
	require.NoError(t, err)
	return ns, string(kc)
}

// TestDeployActionFailsAtTheFirstCrash: a release whose crashed instance's
// log names a cause no restart can clear is failed at its first crash (not
// after crashloop-restarts) and rolled back; failure-cause, the summary's
// first line and the Slack-ready cause name it with the object and the
// quoted evidence.
func TestDeployActionFailsAtTheFirstCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		log, class, object, evidence string
	}{
		{"missing-env/elixir-runtime-exs", "missing-env", "env DATABASE_URL", "environment variable DATABASE_URL is missing"},
		{"config-syntax/sys-config-syntax", "config-syntax", "", "sys.config"},
		{"undef/start-undef", "undef", "", "undef"},
		{"permission/file-open", "permission", "", "eacces"},
		{"node-name/long-name-space", "node-name", "", "name"},
	}
	for _, tt := range tests {
		t.Run(tt.class, func(t *testing.T) {
			t.Parallel()
			ns, kc := bootTarget(t, corpusLog(t, tt.log), nil)
			s := runAction(t, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0-fault-crashloop", "namespace": ns, "kubeconfig": kc})
			assert.Equal(t, "rolled-back", s.Output("status"))
			assert.Equal(t, tt.class, s.Output("failure-cause"))
			assert.Contains(t, s.Output("failure-reason"), "BootFailure: crashed 1 time(s) since the change", "failed at the first crash")
			first, _, _ := strings.Cut(s.Summary, "\n")
			assert.Contains(t, first, "failed and was rolled back — "+tt.class)
			assert.Contains(t, strings.ToLower(first), strings.ToLower(tt.evidence), "the first line quotes the evidence")
			if tt.object != "" {
				assert.Contains(t, first, tt.object)
			}
			assert.Contains(t, s.Summary, "| **Evidence** | log of pod/")
			assert.Contains(t, s.Log, "::error::cause: "+tt.class+": ")
		})
	}
}

// TestDeployActionBootTwins: releases whose first crash must not fail them —
// a transient cause that clears at the second start (the log says what is
// awaited), a variable from an optional ConfigMap that may appear, and each
// first-crash class's healthy twin (the same application fixed, crashing once
// for another reason) — all succeed.
func TestDeployActionBootTwins(t *testing.T) {
	t.Parallel()
	optional := func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "erlmcp-env"}, Optional: ptr.To(true)}}}
	}
	tests := []struct {
		name, log string
		mut       func(*appsv1.Deployment)
		waiting   string // what the progress lines say is awaited
	}{
		{"dns clears at the second start", "dns/gen-tcp", nil, "to resolve"},
		{"a refused dependency accepts at the second start", "dependency-unreachable/gen-tcp", nil, "to accept connections"},
		{"missing env from an optional ConfigMap", "missing-env/elixir-runtime-exs", optional, "(missing-env: DATABASE_URL)"},
		{"missing-env twin", "missing-env/elixir-runtime-exs-healthy", nil, ""},
		{"config-syntax twin", "config-syntax/sys-config-healthy", nil, ""},
		{"undef twin", "undef/start-undef-healthy", nil, ""},
		{"permission twin", "permission/dets-healthy", nil, ""},
		{"node-name twin", "node-name/sname-healthy", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns, kc := bootTarget(t, corpusLog(t, tt.log), tt.mut)
			s := runAction(t, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0-crashonce", "namespace": ns, "kubeconfig": kc})
			assert.Equal(t, "succeeded", s.Output("status"), s.Output("failure-reason"))
			assert.Empty(t, s.Output("failure-cause"))
			assert.Contains(t, s.Log, "crashed 1 time(s) since the change", "the crash was seen and tolerated")
			if tt.waiting != "" {
				assert.Contains(t, s.Log, tt.waiting)
			}
		})
	}
}
