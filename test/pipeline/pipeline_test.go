// Package pipeline runs .github/workflows/pipeline.yml end to end with
// nektos/act in self-hosted mode, the way a user's repository calls it
// (uses: org/erlmcp-deploy/.github/workflows/pipeline.yml@v1, served from
// this working tree by --local-repository), against the local cluster and
// in-process erlmcp-like servers.
package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

var actOnce struct {
	sync.Once
	path string
	err  error
}

// act builds nektos/act from tools/go.mod (the version pinned there).
func act(t *testing.T) string {
	actOnce.Do(func() {
		root, err := testcluster.RepoRoot()
		if err != nil {
			actOnce.err = err
			return
		}
		dir, err := os.MkdirTemp("", "erlmcp-act-")
		if err != nil {
			actOnce.err = err
			return
		}
		actOnce.path = filepath.Join(dir, "act")
		cmd := exec.Command("go", "build", "-o", actOnce.path, "github.com/nektos/act")
		cmd.Dir = filepath.Join(root, "tools")
		if out, err := cmd.CombinedOutput(); err != nil {
			actOnce.err = fmt.Errorf("build act: %w\n%s", err, out)
		}
	})
	require.NoError(t, actOnce.err)
	return actOnce.path
}

// run is one act run: each job's result and its steps' outputs.
type run struct {
	results map[string]string            // jobID → success|failure
	outputs map[string]map[string]string // "jobID/stepID" → output name → value
	log     string
}

// out is the output name of step (its id) in job.
func (r *run) out(job, step, name string) string { return r.outputs[job+"/"+step][name] }

// ran reports whether step of job set any output.
func (r *run) ran(job, step string) bool { return len(r.outputs[job+"/"+step]) > 0 }

// env is a staging and a production namespace, each with an erlmcp
// Deployment and its own least-privilege identity, and a caller repository.
type env struct {
	staging, production     string
	stagingKC, productionKC string
	repo                    string
	// inherit: the caller passes `secrets: inherit` (as with secrets of the
	// staging and production environments) instead of mapping them by name.
	inherit bool
}

func newEnv(t *testing.T, name string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := &env{staging: name + "-staging", production: name + "-production", repo: t.TempDir()}
	for _, ns := range []string{e.staging, e.production} {
		id, err := cluster.Deployer(ctx, ns)
		require.NoError(t, err)
		d := testcluster.Deployment("erlmcp", "ghcr.io/acme/erlmcp:0.9.0", 2)
		require.NoError(t, cluster.CreateAvailable(ctx, ns, d))
		// 1.0.0 is the verified release running before the pipeline.
		_, err = (&deploy.Deployer{Client: id.Client, Log: ui.Discard{}}).Run(ctx, deploy.Options{Environment: ns, Namespace: ns, Deployment: "erlmcp",
			Image: "ghcr.io/acme/erlmcp:1.0.0", Timeout: time.Minute, FailFast: true, ChangeCause: "release 1.0.0", Holder: "setup", BackupDir: t.TempDir()})
		require.NoError(t, err)
		kc, err := os.ReadFile(id.Kubeconfig)
		require.NoError(t, err)
		if ns == e.staging {
			e.stagingKC = string(kc)
		} else {
			e.productionKC = string(kc)
		}
	}
	// The caller's own config file maps each environment to its namespace.
	write(t, filepath.Join(e.repo, ".github", "erlmcp-deploy.yml"), fmt.Sprintf("environments:\n  staging:\n    namespace: %s\n  production:\n    namespace: %s\n", e.staging, e.production))
	git(t, e.repo, "init", "-q")
	return e
}

func write(t *testing.T, path, content string) {
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func git(t *testing.T, dir string, args ...string) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=ci", "-c", "user.email=ci@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

// caller writes the caller workflow, as in examples/workflows, and runs it.
func (e *env) run(t *testing.T, image, stagingURL, productionURL string) *run {
	return e.runSlack(t, image, stagingURL, productionURL, "")
}

const slackToken = "xoxb-pipeline-test-SECRET"

// secrets is the caller's `secrets:`.
func (e *env) secrets() string {
	if e.inherit {
		return "    secrets: inherit\n"
	}
	return `    secrets:
      STAGING_KUBECONFIG: ${{ secrets.STAGING_KUBECONFIG }}
      PRODUCTION_KUBECONFIG: ${{ secrets.PRODUCTION_KUBECONFIG }}
      SLACK_BOT_TOKEN: ${{ secrets.SLACK_BOT_TOKEN }}
`
}

// runSlack is run with Slack pointed at slackAPI ("" = no Slack).
func (e *env) runSlack(t *testing.T, image, stagingURL, productionURL, slackAPI string) *run {
	t.Helper()
	write(t, filepath.Join(e.repo, ".github", "workflows", "caller.yml"), fmt.Sprintf(`name: caller
on: workflow_dispatch
jobs:
  ship:
    uses: org/erlmcp-deploy/.github/workflows/pipeline.yml@v1
    with:
      image: %s
      target: production
      staging-url: %s
      production-url: %s
      mcp-expect-tools: echo, add
      smoke-wait: 5s
      timeout: 90s
      resolve-digest: false
      slack-channel: C0PIPELINE
      slack-mention: <!subteam^S0ONCALL>
%s`, image, stagingURL, productionURL, e.secrets()))
	git(t, e.repo, "add", "-A")
	git(t, e.repo, "commit", "-q", "--allow-empty", "-m", "caller")
	args := []string{"workflow_dispatch", "-W", ".github/workflows/caller.yml"}
	if e.stagingKC != "" {
		args = append(args, "-s", "STAGING_KUBECONFIG="+e.stagingKC)
	}
	if e.productionKC != "" {
		args = append(args, "-s", "PRODUCTION_KUBECONFIG="+e.productionKC)
	}
	if slackAPI != "" {
		args = append(args, "-s", "SLACK_BOT_TOKEN="+slackToken, "--env", "ERLMCP_SLACK_API_URL="+slackAPI)
	}
	return runAct(t, e.repo, args...)
}

// runAct runs act in dir (the caller's repository) with args (the event, the
// workflow, secrets, ...), in self-hosted mode with this working tree as
// org/erlmcp-deploy@v1, and reads each job's result and its steps' outputs
// from act's --json log.
func runAct(t *testing.T, dir string, args ...string) *run {
	t.Helper()
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args = append(args, "-P", "ubuntu-latest=-self-hosted", "--local-repository", "org/erlmcp-deploy@v1="+root, "--json",
		// No release can be downloaded here, and this tree bundles no binaries (no dist/): the
		// launcher builds the actions from source, which a release ref (@v1) does only on request.
		"--env", "ERLMCP_RELEASE_API=http://127.0.0.1:9", "--env", "ERLMCP_ALLOW_SOURCE_BUILD=true")
	cmd := exec.CommandContext(ctx, act(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // a failing job is an expected outcome here; the jobs' results are asserted
	r := &run{results: map[string]string{}, outputs: map[string]map[string]string{}, log: out.String()}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct {
			JobID, JobResult, Command, Name, Arg string
			StepID                               []string // the step, then the steps of a composite action
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.JobID == "" {
			continue
		}
		if ev.JobResult != "" {
			r.results[ev.JobID] = ev.JobResult
		}
		if ev.Command == "set-output" && len(ev.StepID) > 0 {
			key := ev.JobID + "/" + ev.StepID[0]
			if r.outputs[key] == nil {
				r.outputs[key] = map[string]string{}
			}
			r.outputs[key][ev.Name] = ev.Arg
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("act log (last 150 lines):\n%s", lastLines(r.log, 150))
		}
	})
	return r
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func serve(t *testing.T, status string) string {
	srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{Status: status}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (e *env) image(t *testing.T, ns string) (string, int64) {
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	rev, err := history.RevisionOf(d)
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image, rev
}

// TestGoodImageReachesProduction: staging, smoke, production, smoke, no rollback.
func TestGoodImageReachesProduction(t *testing.T) {
	e := newEnv(t, "good")
	slack, api := slackfake.New(t, slackToken)
	r := e.runSlack(t, "ghcr.io/acme/erlmcp:1.1.0", serve(t, erlmcpd.Healthy), serve(t, erlmcpd.Healthy), api)
	for _, job := range []string{"staging", "production"} {
		assert.Equal(t, "success", r.results[job], job)
		assert.False(t, r.ran(job, "rollback"), "%s: no rollback after a green smoke", job)
	}
	assert.NotContains(t, r.results, "build-and-test", "an existing image skips the build")
	assert.Equal(t, "succeeded", r.out("staging", "deploy", "status"))
	assert.Equal(t, "3", r.out("staging", "deploy", "revision"))
	assert.Equal(t, "0", r.out("staging", "smoke", "failed"))
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", r.out("production", "deploy", "image"), "production deploys what staging verified")
	assert.Equal(t, "succeeded", r.out("production", "deploy", "status"))
	assert.NotEmpty(t, r.out("production", "smoke", "passed"))
	assert.Equal(t, "0", r.out("production", "smoke", "failed"))
	for _, ns := range []string{e.staging, e.production} {
		img, rev := e.image(t, ns)
		assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", img, ns)
		assert.Equal(t, int64(3), rev, ns)
	}
	// One Slack message for the whole run: posted by the staging deploy,
	// then updated by every later stage.
	calls := slack.Calls()
	require.NotEmpty(t, calls)
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	ts := r.out("staging", "deploy", "slack-ts")
	require.NotEmpty(t, ts)
	for _, c := range calls[1:] {
		assert.Equal(t, "chat.update", c.Method)
		assert.Equal(t, ts, c.Form.Get("ts"))
	}
	assert.GreaterOrEqual(t, len(calls), 5, "staging deploy (2), staging smoke, production deploy (2), production smoke")
	assert.Equal(t, ts, r.out("production", "smoke", "slack-ts"))
	for _, line := range strings.Split(r.log, "\n") {
		if strings.Contains(line, `"command":"add-mask"`) {
			continue // act's own record of the mask command
		}
		if strings.Contains(line, slackToken) {
			t.Errorf("the Slack token reached the log: %.200s", line)
			break
		}
	}
}

// TestBadImageStopsInStaging: the deploy fails fast and rolls staging back;
// production is never touched.
func TestBadImageStopsInStaging(t *testing.T) {
	e := newEnv(t, "bad")
	_, prodBefore := e.image(t, e.production)
	r := e.run(t, "ghcr.io/acme/erlmcp:1.1.0-fault-crashloop", serve(t, erlmcpd.Healthy), serve(t, erlmcpd.Healthy))
	assert.Equal(t, "failure", r.results["staging"])
	assert.Equal(t, "rolled-back", r.out("staging", "deploy", "status"))
	assert.Contains(t, r.out("staging", "deploy", "failure-reason"), "CrashLoopBackOff")
	assert.False(t, r.ran("staging", "smoke"), "no smoke test of a failed deploy")
	assert.False(t, r.ran("staging", "rollback"), "the deploy rolled itself back")
	assert.NotContains(t, r.results, "production")
	img, rev := e.image(t, e.production)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", img, "production untouched")
	assert.Equal(t, prodBefore, rev)
	img, _ = e.image(t, e.staging)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", img, "staging rolled back")
}

// TestProductionSmokeFailureRollsBack: the rollout succeeds but the
// production smoke test fails, so the production job, in which the deploy
// and the smoke test ran, rolls back to the last successful revision.
func TestProductionSmokeFailureRollsBack(t *testing.T) {
	e := newEnv(t, "smokefail")
	e.inherit = true // the kubeconfigs reach the pipeline through `secrets: inherit`
	r := e.run(t, "ghcr.io/acme/erlmcp:1.1.0", serve(t, erlmcpd.Healthy), serve(t, erlmcpd.Unhealthy))
	assert.Equal(t, "success", r.results["staging"])
	assert.Equal(t, "succeeded", r.out("production", "deploy", "status"))
	assert.NotEqual(t, "0", r.out("production", "smoke", "failed"))
	assert.NotEmpty(t, r.out("production", "smoke", "failed"))
	assert.Equal(t, "failure", r.results["production"], "the job rolls back, and the run fails")
	assert.Equal(t, "succeeded", r.out("production", "rollback", "status"))
	assert.Equal(t, "3", r.out("production", "rollback", "from-revision"))
	assert.Equal(t, "4", r.out("production", "rollback", "revision"))
	img, _ := e.image(t, e.production)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", img, "back on the last successful release")
	img, _ = e.image(t, e.staging)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", img, "staging keeps the release")
	assert.Contains(t, r.log, "the production smoke test found "+r.out("production", "smoke", "failed")+" failing check(s): rolled back")
	// The smoke-failed release is recorded as failed: never a last-successful target again.
	revs := e.history(t, e.production)
	require.Contains(t, revs, int64(3))
	assert.Equal(t, []string{"ghcr.io/acme/erlmcp:1.1.0"}, revs[3].Images)
	assert.NotEmpty(t, revs[3].Failed, "revision 3 (smoke failed) is marked %s", history.FailedAnnotation)
	assert.False(t, revs[3].Successful)
	assert.True(t, revs[4].Successful, "the restored revision is verified")
}

// history is the revision history of ns's erlmcp Deployment, by number.
func (e *env) history(t *testing.T, ns string) map[int64]history.Revision {
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	revs, err := history.List(context.Background(), cluster.Client, d)
	require.NoError(t, err)
	out := map[int64]history.Revision{}
	for _, rv := range revs {
		out[rv.Number] = rv
	}
	return out
}

// TestInputErrorChangesNothing: a missing production-url fails the validate
// job, before anything is built or deployed — staging included.
func TestInputErrorChangesNothing(t *testing.T) {
	e := newEnv(t, "badinput")
	_, stagingBefore := e.image(t, e.staging)
	_, prodBefore := e.image(t, e.production)
	r := e.run(t, "ghcr.io/acme/erlmcp:1.1.0", serve(t, erlmcpd.Healthy), "")
	assert.Equal(t, "failure", r.results["validate"])
	assert.Contains(t, r.log, "Invalid input production-url")
	assert.Contains(t, r.log, "nothing was built or deployed")
	for _, job := range []string{"build-and-test", "image", "staging", "production", "release"} {
		assert.NotEqual(t, "success", r.results[job], job)
		assert.False(t, r.ran(job, "deploy"), job)
	}
	for ns, before := range map[string]int64{e.staging: stagingBefore, e.production: prodBefore} {
		img, rev := e.image(t, ns)
		assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", img, ns)
		assert.Equal(t, before, rev, ns)
	}
}

// TestMissingKubeconfigChangesNothing: a caller whose STAGING_KUBECONFIG does
// not reach the pipeline (`secrets: inherit` without such a secret) is stopped
// before the staging deploy, which would otherwise fall back to whatever
// credentials the runner has.
func TestMissingKubeconfigChangesNothing(t *testing.T) {
	e := newEnv(t, "nosecret")
	e.inherit, e.stagingKC = true, ""
	_, before := e.image(t, e.staging)
	r := e.run(t, "ghcr.io/acme/erlmcp:1.1.0", serve(t, erlmcpd.Healthy), serve(t, erlmcpd.Healthy))
	assert.Equal(t, "success", r.results["validate"])
	assert.Equal(t, "failure", r.results["staging"])
	assert.Contains(t, r.log, "Missing secret STAGING_KUBECONFIG")
	assert.False(t, r.ran("staging", "deploy"))
	assert.NotContains(t, r.results, "production")
	img, rev := e.image(t, e.staging)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", img)
	assert.Equal(t, before, rev)
}

// TestSmokeInputErrorNeverRollsBack: a smoke step that fails on its own input
// (here a bad `suite` in the caller's config file for production: exit 2,
// no check run, no `failed` output) says nothing about the service, so the
// release that was deployed is not rolled back.
func TestSmokeInputErrorNeverRollsBack(t *testing.T) {
	e := newEnv(t, "smokeinput")
	write(t, filepath.Join(e.repo, ".github", "erlmcp-deploy.yml"), fmt.Sprintf(
		"environments:\n  staging:\n    namespace: %s\n  production:\n    namespace: %s\n    suite: everything\n", e.staging, e.production))
	r := e.run(t, "ghcr.io/acme/erlmcp:1.1.0", serve(t, erlmcpd.Healthy), serve(t, erlmcpd.Healthy))
	assert.Equal(t, "success", r.results["staging"])
	assert.Equal(t, "succeeded", r.out("production", "deploy", "status"))
	assert.Equal(t, "failure", r.results["production"])
	assert.Contains(t, r.log, "Invalid input suite")
	assert.Empty(t, r.out("production", "smoke", "failed"), "no check ran")
	assert.False(t, r.ran("production", "rollback"), "an input error of the smoke step never rolls back")
	assert.Contains(t, r.log, "the production smoke step failed before checking the service")
	img, rev := e.image(t, e.production)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", img, "the deployed release stays")
	assert.Equal(t, int64(3), rev)
}
