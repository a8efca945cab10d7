package deploy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const v1 = "ghcr.io/acme/erlmcp:1.0.0"

var seq atomic.Int32

// target creates a namespace with the deployer identity and an erlmcp
// Deployment serving v1; it returns the namespace and the identity's kubeconfig content.
func target(t *testing.T) (string, string, *testcluster.Identity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-deploy-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", v1, 2)))
	kc, err := os.ReadFile(id.Kubeconfig)
	require.NoError(t, err)
	return ns, string(kc), id
}

// runAction runs the deploy action in-process exactly as its binary does,
// with the environment a GitHub runner gives a step.
func runAction(t *testing.T, inputs map[string]string) steptest.Step {
	t.Helper()
	return runActionEnv(t, inputs, nil)
}

func runActionEnv(t *testing.T, inputs, extra map[string]string) steptest.Step {
	t.Helper()
	env := map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "4242", "GITHUB_ACTOR": "octocat"}
	for k, v := range extra {
		env[k] = v
	}
	return steptest.Run(t, actionspec.Deploy(), deploy.Run, inputs, env)
}

func assertNoSecret(t *testing.T, s steptest.Step, secret string) {
	t.Helper()
	assert.Empty(t, s.Leaks(secret), "the secret leaks")
}

func TestDeployActionSucceeds(t *testing.T) {
	t.Parallel()
	ns, kc, id := target(t)
	s := runAction(t, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0", "namespace": ns, "kubeconfig": kc})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Equal(t, "2", s.Output("revision"))
	assert.Equal(t, "1", s.Output("previous-revision"))
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", s.Output("image"))
	assert.Equal(t, "false", s.Output("rolled-back"))
	assert.Equal(t, "", s.Output("failure-reason"))
	assert.Regexp(t, `^\d+\.\d$`, s.Output("duration-seconds"))
	assert.FileExists(t, s.Output("backup"))
	assert.Contains(t, s.Log, "::group::Pre-flight: deployment "+ns+"/erlmcp (staging)")
	assert.Contains(t, s.Summary, "## ✅ Deployed to staging")
	assert.Contains(t, s.Summary, "| **Revision** | 1 → 2 |")
	assertNoSecret(t, s, id.Token)

	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	revs, err := history.List(context.Background(), cluster.Client, d)
	require.NoError(t, err)
	assert.Equal(t, "deploy ghcr.io/acme/erlmcp:1.1.0 by octocat in https://github.com/acme/erlmcp/actions/runs/4242", revs[0].ChangeCause)
}

// crashLog is what a crashed erlmcp printed when its database refused the
// connection: a cause that a restart can clear (bootcause: dependency-unreachable).
const crashLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[error] erlmcp_store: connect to db:5432 failed: econnrefused
{"init terminating in do_boot",{{badmatch,{error,econnrefused}},[{erlmcp_app,start,2,[]}]}}
init terminating in do_boot ({{badmatch,{error,econnrefused}},[{erlmcp_app,start,2,[]}]})
`

func TestDeployActionRollsBackABadImage(t *testing.T) {
	t.Parallel()
	ns, kc, id := target(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cleanup, err := cluster.NamespaceLogs(ctx, ns, testcluster.ContainerLogs{Previous: crashLog})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cleanup()) })
	s := runAction(t, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0-fault-crashloop", "namespace": ns, "kubeconfig": kc})
	assert.Equal(t, ghaction.ExitFailed, s.Code)
	assert.Equal(t, "rolled-back", s.Output("status"))
	assert.Equal(t, "true", s.Output("rolled-back"))
	assert.Contains(t, s.Output("failure-reason"), "CrashLoopBackOff")
	assert.Equal(t, "3", s.Output("revision"))
	assert.Contains(t, s.Log, "::group::Diagnostics")
	assert.Contains(t, s.Log, "::error::rollout of ghcr.io/acme/erlmcp:1.1.0-fault-crashloop failed")
	assert.Contains(t, s.Summary, "failed and was rolled back")
	assert.Contains(t, s.Summary, "### Diagnostics")
	assert.Contains(t, s.Summary, "init terminating in do_boot")
	assert.Contains(t, s.Summary, "### Timeline\n\n```mermaid\ngantt\n")
	assert.Regexp(t, `\n    Rollout :crit, t\d+, \d+, \d+\n`, s.Summary, "the rollout failed")
	assert.Regexp(t, `\n    ✖ rollout of ghcr.io/acme/erlmcp∶1.1.0-fault-crashloop.* :crit, milestone, m1, `, s.Summary)
	assert.Regexp(t, `\n    Rollback to revision 1 :active, t\d+, `, s.Summary)
	assertNoSecret(t, s, id.Token)
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, v1, d.Spec.Template.Spec.Containers[0].Image)
}

func TestDeployActionBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	cfg := filepath.Join(t.TempDir(), "erlmcp-deploy.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("environments:\n  staging:\n    namespace: "+ns+"\n  production:\n    namespace: prod\n"), 0o644))
	cases := []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"implicit latest", map[string]string{"image": "ghcr.io/acme/erlmcp"}, "::error title=Invalid input image::"},
		{"bad digest", map[string]string{"image": "ghcr.io/acme/erlmcp@sha256:abc"}, "::error title=Invalid input image::"},
		{"zero timeout", map[string]string{"image": "x/y:1", "timeout": "0"}, "::error title=Invalid input timeout::must be longer than 0"},
		{"bad health url", map[string]string{"image": "x/y:1", "health-url": "erlmcp.local/health"}, "::error title=Invalid input health-url::"},
		{"unknown environment", map[string]string{"image": "x/y:1", "config": cfg, "environment": "prod"}, "::error title=Invalid input config::"},
		{"registry user without password", map[string]string{"image": "x/y:1", "resolve-digest": "true", "registry-username": "octocat"}, "::error title=Invalid input registry-password::is required with registry-username"},
		{"zero crash-loop tolerance", map[string]string{"image": "x/y:1", "crashloop-restarts": "0"}, "::error title=Invalid input crashloop-restarts::must be at least 1"},
		{"zero pull grace", map[string]string{"image": "x/y:1", "image-pull-grace": "0s"}, "::error title=Invalid input image-pull-grace::must be longer than 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]string{"environment": "staging", "namespace": ns, "kubeconfig": kc}
			for k, v := range tc.inputs {
				in[k] = v
			}
			s := runAction(t, in)
			assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
			assert.Contains(t, s.Log, tc.want)
		})
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.Generation, "nothing changed")

	// The config file supplies the namespace for its environment.
	s := runAction(t, map[string]string{"environment": "staging", "config": cfg, "image": "ghcr.io/acme/erlmcp:1.0.1", "kubeconfig": kc})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Contains(t, s.Log, "deployment "+ns+"/erlmcp found")
}

func TestDeployActionHealthURL(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	var calls atomic.Int32
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"status":"healthy"}`)
	}))
	defer healthy.Close()
	s := runAction(t, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.0", "namespace": ns, "kubeconfig": kc, "health-url": healthy.URL + "/health"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Contains(t, s.Log, "answered 200 after 3 attempt(s)")

	// The service is sick while 1.2.0 serves, healthy again once it is rolled back
	// (the automatic rollback runs the same health check).
	const sickImage = "ghcr.io/acme/erlmcp:1.2.0"
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(r.Context(), "erlmcp", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image == sickImage {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status":"unhealthy"}`)
			return
		}
		fmt.Fprint(w, `{"status":"healthy"}`)
	}))
	defer sick.Close()
	s = runAction(t, map[string]string{"environment": "staging", "image": sickImage, "namespace": ns, "kubeconfig": kc,
		"health-url": sick.URL + "/health", "timeout": "5s"})
	assert.Equal(t, ghaction.ExitFailed, s.Code)
	assert.Equal(t, "rolled-back", s.Output("status"))
	assert.Contains(t, s.Output("failure-reason"), "HealthCheckFailed")
	assert.Contains(t, s.Output("failure-reason"), "503")
	assert.Contains(t, s.Log, "::group::Rollback to revision 2", "the rollback is verified, health check included")
	assert.Contains(t, s.Log, "── Health check ──", "a group of its own inside the rollout's")
	assert.Regexp(t, `section Health check\n    Health check :crit, t\d+, \d+, \d+\n    ✖ rollout of [^\n]* :crit, milestone, m1, \d+, \d+\n    Health check :t\d+, `,
		s.Summary, "the timeline marks the deploy's health check failed (the failure in its row), the rollback's passed")
}

func TestDeployActionResolvesTheDigest(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	require.NoError(t, err)
	tag, err := name.NewTag(host+"/acme/erlmcp:1.1.0", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(tag, img))
	digest, err := img.Digest()
	require.NoError(t, err)

	s := runAction(t, map[string]string{"environment": "staging", "image": host + "/acme/erlmcp:1.1.0", "resolve-digest": "true", "namespace": ns, "kubeconfig": kc})
	require.Equal(t, 0, s.Code, s.Log)
	want := host + "/acme/erlmcp:1.1.0@" + digest.String()
	assert.Equal(t, digest.String(), s.Output("digest"))
	assert.Equal(t, want, s.Output("image"))
	assert.Contains(t, s.Log, "resolved "+host+"/acme/erlmcp:1.1.0 to "+digest.String())
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, d.Spec.Template.Spec.Containers[0].Image, "the digest is what runs")

	s = runAction(t, map[string]string{"environment": "staging", "image": host + "/acme/erlmcp:9.9.9", "resolve-digest": "true", "namespace": ns, "kubeconfig": kc})
	assert.Equal(t, ghaction.ExitFailed, s.Code)
	assert.Contains(t, s.Log, "9.9.9")
	assert.Contains(t, s.Log, "nothing was changed")
	assert.Equal(t, "failed", s.Output("status"))

	// A private registry (ghcr.io with packages: read): the credentials inputs.
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "octocat" || p != "ghs_registrytoken42" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer private.Close()
	phost := strings.TrimPrefix(private.URL, "http://")
	ptag, err := name.NewTag(phost+"/acme/erlmcp:1.2.0", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(ptag, img, remote.WithAuth(&authn.Basic{Username: "octocat", Password: "ghs_registrytoken42"})))
	s = runAction(t, map[string]string{"environment": "staging", "image": phost + "/acme/erlmcp:1.2.0", "resolve-digest": "true", "namespace": ns, "kubeconfig": kc,
		"registry-username": "octocat", "registry-password": "ghs_registrytoken42"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, digest.String(), s.Output("digest"))
	assertNoSecret(t, s, "ghs_registrytoken42")
}

func TestDeployActionTellsSlack(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	const token = "xoxb-erlmcp-test-SECRET"
	fake, api := slackfake.New(t, token)
	in := map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.1.0-fault-imagepull", "namespace": ns, "kubeconfig": kc,
		"slack-token": token, "slack-channel": "C0DEPLOYS", "slack-mention": "<!subteam^S0ONCALL>"}
	s := runActionEnv(t, in, map[string]string{"ERLMCP_SLACK_API_URL": api})
	assert.Equal(t, ghaction.ExitFailed, s.Code)
	calls := fake.Calls()
	require.Len(t, calls, 2, "one message, posted then updated")
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	assert.Equal(t, "chat.update", calls[1].Method)
	ts := s.Output("slack-ts")
	assert.Equal(t, ts, calls[1].Form.Get("ts"))
	final := fake.Message(ts)
	assert.Contains(t, final.Get("blocks")+final.Get("attachments"), "rolled")
	assert.Contains(t, final.Get("blocks"), "S0ONCALL", "production rollback mentions on-call")
	assert.Contains(t, final.Get("text")+final.Get("attachments"), "ErrImagePull")
	assertNoSecret(t, s, token)

	// Slack down: the deploy still succeeds, with a warning.
	in = map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.1.1", "namespace": ns, "kubeconfig": kc,
		"slack-token": token, "slack-channel": "C0DEPLOYS"}
	start := time.Now()
	s = runActionEnv(t, in, map[string]string{"ERLMCP_SLACK_API_URL": "http://127.0.0.1:9/api/"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Contains(t, s.Log, "::warning::")
	assert.Less(t, time.Since(start), 40*time.Second)
}

// TestSIGTERMWhileWaiting stops the real CLI the way a runner cancels a job:
// it exits promptly, releases the lock, says what it left, and the next run
// converges.
func TestSIGTERMWhileWaiting(t *testing.T) {
	t.Parallel()
	ns, _, id := target(t)
	term := testcluster.TermAfter(t, []string{"deploy", "--environment", "staging", "--namespace", ns,
		"--image", "ghcr.io/acme/erlmcp:1.1.0-fault-neverready", "--timeout", "2m"},
		[]string{"KUBECONFIG=" + id.Kubeconfig, "RUNNER_TEMP=" + t.TempDir()}, "patched container", 500*time.Millisecond)
	assert.Equal(t, ghaction.ExitCancelled, term.Code, term.Output)
	assert.Less(t, term.Took, 5*time.Second, "exits promptly")
	t.Logf("exited %s after SIGTERM", term.Took.Round(time.Millisecond))
	assert.Contains(t, term.Output, "cancelled while waiting for the rollout of ghcr.io/acme/erlmcp:1.1.0-fault-neverready: deployment erlmcp is at revision 2 (ghcr.io/acme/erlmcp:1.1.0-fault-neverready)")
	assert.Contains(t, term.Output, "run deploy again to finish, or rollback to return to revision 1")
	_, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), "erlmcp-deploy.erlmcp", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "lock released: %v", err)

	s := runAction(t, map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.2.0", "namespace": ns, "kubeconfig": readFile(t, id.Kubeconfig)})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"), "the next run converges")
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestDiagnosticsNeverPrintTheSecretsPodsEcho: a crashing container whose
// log echoes a credential from its environment, deployed with a kubeconfig
// token and a Slack token: the diagnostics show the log with the credential
// masked, and no secret reaches the log, the outputs or the summary — in the
// failure path and in the success path.
func TestDiagnosticsNeverPrintTheSecretsPodsEcho(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-deploy-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	d := testcluster.Deployment("erlmcp", v1, 2)
	c := &d.Spec.Template.Spec.Containers[0]
	c.Name = testcluster.EchoEnvContainer
	c.Env = []corev1.EnvVar{{Name: "ERLMCP_PORT", Value: "8080"}, {Name: testcluster.EchoedEnv, Value: testcluster.EchoedSecret}}
	require.NoError(t, cluster.CreateAvailable(ctx, ns, d))
	kc := readFile(t, id.Kubeconfig)
	const slackToken = "xoxb-erlmcp-echo-SECRET"
	_, api := slackfake.New(t, slackToken)
	secrets := map[string]string{"echoed env value": testcluster.EchoedSecret, "kubeconfig token": id.Token, "slack token": slackToken}

	for _, image := range []string{"ghcr.io/acme/erlmcp:1.1.0-fault-crashloop", "ghcr.io/acme/erlmcp:1.1.0"} {
		s := runActionEnv(t, map[string]string{"environment": "staging", "image": image, "namespace": ns, "kubeconfig": kc,
			"slack-token": slackToken, "slack-channel": "C0DEPLOYS"}, map[string]string{"ERLMCP_SLACK_API_URL": api})
		if strings.Contains(image, "fault") {
			require.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
			assert.Equal(t, "rolled-back", s.Output("status"))
			assert.Contains(t, s.Log, "[debug] erlmcp_config: environment ERLMCP_PORT=8080 "+testcluster.EchoedEnv+"=***", "the log is shown, masked")
			assert.Contains(t, s.Summary, "invalid_token,\"***\"")
		} else {
			require.Equal(t, 0, s.Code, s.Log)
		}
		for what, secret := range secrets {
			assert.Empty(t, s.Leaks(secret), "%s: the %s leaks", image, what)
		}
	}
}
