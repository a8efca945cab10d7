package diagnose_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/bootcause/bootcorpus"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// crashed is a report of one crash-looping pod whose crashed instance left log.
func crashed(log string) *diagnose.Report {
	b := bootcause.Classify([]byte(log))
	return &diagnose.Report{Pods: []diagnose.Pod{{Name: "erlmcp-7d9-x", Containers: []diagnose.Container{{
		Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.2.0", Restarts: 3, State: "waiting: CrashLoopBackOff back-off 40s",
		Last: "terminated: Error (exit 1)", Logs: log, LogsPrevious: true, Boot: &b, MemoryLimit: "256Mi",
		Readiness: "HTTP GET :8080/health", Liveness: "HTTP GET :8080/health",
	}}}}}
}

func crashLoop() rollout.Verdict {
	return rollout.Verdict{Phase: rollout.Failed, Reason: "CrashLoopBackOff", Problems: []rollout.Problem{{
		Pod: "erlmcp-7d9-x", Container: "erlmcp", Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}}}
}

func problem(reason, msg string) rollout.Verdict {
	return rollout.Verdict{Phase: rollout.Failed, Reason: reason, Problems: []rollout.Problem{{
		Pod: "erlmcp-7d9-x", Container: "erlmcp", Reason: reason, Message: msg}}}
}

func TestExplain(t *testing.T) {
	healthy := &diagnose.Report{Pods: []diagnose.Pod{{Name: "erlmcp-7d9-x", Containers: []diagnose.Container{{
		Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.2.0", State: "running", Readiness: "HTTP GET :8080/health"}}}}}
	withEvents := func(r *diagnose.Report, evs ...diagnose.Event) *diagnose.Report { r.Events = evs; return r }
	tests := []struct {
		name     string
		verdict  rollout.Verdict
		report   *diagnose.Report
		class    string
		object   string
		evidence string
	}{
		{"missing tag", problem("ErrImagePull", `failed to pull and unpack image "ghcr.io/acme/erlmcp:9.9.9": failed to resolve reference "ghcr.io/acme/erlmcp:9.9.9": ghcr.io/acme/erlmcp:9.9.9: not found`),
			healthy, diagnose.ImageNotFound, "image ghcr.io/acme/erlmcp:9.9.9", "not found"},
		{"unauthorized", problem("ImagePullBackOff", `failed to pull and unpack image "ghcr.io/acme/private:1.0": failed to authorize: 401 Unauthorized`),
			healthy, diagnose.ImageUnauthorized, "image ghcr.io/acme/private:1.0", "401 Unauthorized"},
		{"pull access denied", problem("ErrImagePull", `pull access denied for acme/erlmcp, repository does not exist or may require 'docker login'`),
			healthy, diagnose.ImageUnauthorized, "image ghcr.io/acme/erlmcp:1.2.0", "pull access denied"},
		{"rate limited", problem("ImagePullBackOff", `failed to pull and unpack image "docker.io/library/nginx:1.25.3": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:abc: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.`),
			healthy, diagnose.ImageRateLimited, "image docker.io/library/nginx:1.25.3", "429 Too Many Requests"},
		{"secret missing", problem("CreateContainerConfigError", `secret "erlmcp-env" not found`),
			healthy, diagnose.ConfigMissing, "secret erlmcp-env", `secret "erlmcp-env" not found`},
		{"configmap key missing", problem("CreateContainerConfigError", `couldn't find key DB_URL in ConfigMap erlmcp/erlmcp-config`),
			healthy, diagnose.ConfigMissing, "key DB_URL of configmap erlmcp/erlmcp-config", "DB_URL"},
		{"run as root refused", problem("CreateContainerConfigError", `container has runAsNonRoot and image will run as root (pod: "erlmcp-7d9-x", container: erlmcp)`),
			healthy, diagnose.ContainerConfig, "the container's configuration", "runAsNonRoot"},
		{"quota", rollout.Verdict{Phase: rollout.Failed, Reason: "FailedCreate", Problems: []rollout.Problem{{Pod: "replicaset/erlmcp-7d9", Reason: "FailedCreate",
			Message: `pods "erlmcp-7d9-x" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2, used: limits.cpu=3, limited: limits.cpu=4 (no old pod is terminating to free room)`}}},
			healthy, diagnose.Quota, "resourcequota compute-resources", "exceeded quota"},
		{"admission webhook", rollout.Verdict{Phase: rollout.Failed, Reason: "FailedCreate", Problems: []rollout.Problem{{Pod: "replicaset/erlmcp-7d9", Reason: "FailedCreate",
			Message: `admission webhook "validate.kyverno.svc" denied the request: image tag latest is not allowed`}}},
			healthy, diagnose.Admission, "replicaset erlmcp-7d9", "kyverno"},
		{"unschedulable", problem(rollout.ReasonUnschedulable, "unschedulable for 1m0s with no scale-up under way: 0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."),
			healthy, diagnose.Unschedulable, "", "3 Insufficient cpu"},
		{"oom", problem("OOMKilled", "the container was OOM-killed (exit 137) and has restarted 3 times since the change (tolerance 2); raise its memory limit or fix the leak"),
			crashed("[info] erlmcp starting\n"), diagnose.OOM, "container erlmcp", "memory limit 256Mi"},
		{"readiness probe at timeout", rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout, Message: "timed out: 0 of 3 updated replicas are available"},
			withEvents(healthy, diagnose.Event{Object: "pod/erlmcp-7d9-x", Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503", Count: 12}),
			diagnose.ProbeFailed, "readiness probe (HTTP GET :8080/health)", "statuscode: 503"},
		{"liveness kills a healthy-looking boot", crashLoop(),
			withEvents(crashed("[info] erlmcp starting\n[info] listening on 8080\n"), diagnose.Event{Object: "pod/erlmcp-7d9-x", Reason: "Killing", Message: "Container erlmcp failed liveness probe, will be restarted"}),
			diagnose.ProbeFailed, "liveness probe of container erlmcp", "failed liveness probe"},
		{"missing env from the crashed instance", crashLoop(),
			crashed("ERROR! Config provider Config.Reader failed with:\n** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing.\n"),
			bootcause.MissingEnv, "env ERLMCP_SECRET_KEY", "ERLMCP_SECRET_KEY is missing"},
		{"a log with no failure line", crashLoop(), crashed("[info] erlmcp starting\n[info] stopping\n"),
			bootcause.CrashUnknown, "container erlmcp of pod/erlmcp-7d9-x", "[info] stopping"},
		{"health check", rollout.Verdict{Phase: rollout.Failed, Reason: "HealthCheckFailed", Message: "GET http://127.0.0.1:8080/health: 503 Service Unavailable"},
			healthy, diagnose.HealthCheck, "", "503 Service Unavailable"},
		{"timeout with nothing to say", rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout, Message: "timed out: 1 old replicas are pending termination"},
			&diagnose.Report{}, diagnose.Timeout, "", ""},
		{"timeout while a pull is retried", rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout, Message: "timed out"},
			&diagnose.Report{Pods: []diagnose.Pod{{Name: "p", Containers: []diagnose.Container{{Name: "c", Image: "x:1",
				State: "waiting: ImagePullBackOff Back-off pulling image \"x:1\": 429 Too Many Requests"}}}}},
			diagnose.ImageRateLimited, "image x:1", "429"},
		{"a mount of a missing configmap", rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout, Message: "timed out"},
			withEvents(&diagnose.Report{}, diagnose.Event{Object: "pod/p", Reason: "FailedMount", Message: `MountVolume.SetUp failed for volume "cfg" : configmap "erlmcp-config" not found`}),
			diagnose.ConfigMissing, "configmap erlmcp-config", "MountVolume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := diagnose.Explain(tt.verdict, tt.report)
			assert.Equal(t, tt.class, c.Class, c.Line())
			assert.Equal(t, tt.object, c.Object)
			assert.Contains(t, c.Evidence+c.Detail, tt.evidence)
			assert.True(t, strings.HasPrefix(c.Line(), tt.class+": "), c.Line())
			assert.Contains(t, diagnose.Classes, c.Class)
		})
	}
}

// TestExplainCorpus: the failure-cause of a crash loop whose crashed
// instance left a corpus log is the corpus case's class (a log that shows no
// failure names crash-unknown), for every case.
func TestExplainCorpus(t *testing.T) {
	cases, err := bootcorpus.All("../bootcause/testdata/corpus")
	require.NoError(t, err)
	require.Greater(t, len(cases), 90)
	right := 0
	for _, c := range cases {
		class := c.Class
		if class == "" {
			class = bootcause.CrashUnknown
		}
		got := diagnose.Explain(crashLoop(), crashed(c.Log))
		if assert.Equal(t, class, got.Class, "%s: %s", c.Name, got.Line()) {
			right++
		}
	}
	t.Logf("failure-cause right on %d/%d corpus cases", right, len(cases))
}
