package rollout_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// corpusCause classifies a real OTP log of the bootcause corpus.
func corpusCause(t *testing.T, name string) bootcause.Cause {
	t.Helper()
	raw, err := os.ReadFile("../bootcause/testdata/corpus/" + name + ".log")
	require.NoError(t, err)
	return bootcause.Classify(raw)
}

// TestFirstCrashVerdict: a first crash whose log names a cause no restart
// can clear fails the rollout at once; its twins — a transient cause, a
// variable that may come from an optional source, an unread log, an OOM
// kill, a crash before the change — keep the restart tolerance.
func TestFirstCrashVerdict(t *testing.T) {
	optionalEnv := func(p *corev1.Pod) {
		p.Spec.Containers = []corev1.Container{{Name: "erlmcp", EnvFrom: []corev1.EnvFromSource{{
			ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "erlmcp-env"}, Optional: ptr.To(true)}}}}}
	}
	tests := []struct {
		name    string
		log     string // corpus case; "" = the log was not read
		mut     func(*corev1.Pod)
		reason  string // "" = tolerated
		message string // in the problem, or in the tolerated note
	}{
		{"missing env fails at the first crash", "missing-env/elixir-runtime-exs", crashing(1, "Error", 1), rollout.ReasonBootFailure, "missing-env"},
		{"config syntax fails at the first crash", "config-syntax/sys-config-syntax", crashing(1, "Error", 1), rollout.ReasonBootFailure, "config-syntax"},
		{"undef fails at the first crash", "undef/start-undef", crashing(1, "Error", 1), rollout.ReasonBootFailure, "undef"},
		{"permission fails at the first crash", "permission/file-open", crashing(1, "Error", 1), rollout.ReasonBootFailure, "permission"},
		{"an invalid node name fails at the first crash", "node-name/long-name-space", crashing(1, "Error", 1), rollout.ReasonBootFailure, "node-name"},
		{"terminated, not yet restarted, counts as the first crash", "missing-env/exit-tuple", func(p *corev1.Pod) {
			cs := &p.Status.ContainerStatuses[0]
			cs.Ready, cs.State = false, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}
		}, rollout.ReasonBootFailure, "missing-env"},
		{"twin: dns waits for the host", "dns/gen-tcp", crashing(1, "Error", 1), "", "waiting for"},
		{"twin: an unreachable dependency waits", "dependency-unreachable/gen-tcp", crashing(1, "Error", 1), "", "to accept connections"},
		{"twin: a port in use waits", "port-in-use/start-listen", crashing(1, "Error", 1), "", "to be free"},
		{"twin: a node name whose host does not resolve yet waits", "node-name/long-name-no-domain", crashing(1, "Error", 1), "", "node-name"},
		{"twin: a start crash keeps the tolerance", "start-crash/error-return", crashing(1, "Error", 1), "", "start-crash"},
		{"twin: a variable from an optional ConfigMap may appear", "missing-env/elixir-runtime-exs", chain(crashing(1, "Error", 1), optionalEnv), "", "missing-env"},
		{"twin: an unread log keeps the tolerance", "", crashing(1, "Error", 1), "", "crashed 1 time(s)"},
		{"twin: an OOM kill keeps the OOM tolerance", "missing-env/elixir-runtime-exs", crashing(1, "OOMKilled", 137), "", "OOM-killed"},
		{"twin: a healthy log names nothing", "missing-env/elixir-runtime-exs-healthy", crashing(1, "Error", 1), "", "crashed 1 time(s)"},
		{"a permanent cause past the tolerance is still named", "missing-env/elixir-runtime-exs", crashing(3, "Error", 1), rollout.ReasonBootFailure, "crashed 3 time(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod("erlmcp-1", tt.mut)
			mem := history{}.memory(p)
			for _, c := range mem.Crashes([]*corev1.Pod{p}) {
				if tt.log != "" {
					mem.SawBoot(c.Key, corpusCause(t, tt.log))
				}
			}
			progressing := dep(func(d *appsv1.Deployment) {
				d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.Replicas = 1, 3, 4
			})
			v := rollout.Evaluate(rollout.Snapshot{Deployment: progressing, Pods: []*corev1.Pod{p}, Memory: mem, Now: now}, rollout.Options{FailFast: true})
			if tt.reason == "" {
				require.Equal(t, rollout.Progressing, v.Phase, v.Message)
				assert.Contains(t, v.Message, tt.message)
				return
			}
			require.Equal(t, rollout.Failed, v.Phase, v.Message)
			assert.Equal(t, tt.reason, v.Reason)
			assert.Contains(t, v.Message, tt.message)
			require.NotNil(t, v.Problems[0].Boot)
			assert.True(t, v.Problems[0].Boot.Permanent)
		})
	}
}

// TestCrashesAsksOncePerInstance: a crashed instance is listed until its
// cause is recorded, and the next crash is a new instance.
func TestCrashesAsksOncePerInstance(t *testing.T) {
	p := pod("erlmcp-1", crashing(1, "Error", 1))
	mem := history{}.memory(p)
	cs := mem.Crashes([]*corev1.Pod{p})
	require.Len(t, cs, 1)
	assert.True(t, cs[0].Previous)
	mem.SawBoot(cs[0].Key, bootcause.Cause{})
	assert.Empty(t, mem.Crashes([]*corev1.Pod{p}))
	again := pod("erlmcp-1", crashing(2, "Error", 1))
	assert.Len(t, mem.Crashes([]*corev1.Pod{again}), 1)
	assert.Empty(t, mem.Crashes([]*corev1.Pod{pod("erlmcp-1", nil)}), "a Ready container is not asked about")
}
