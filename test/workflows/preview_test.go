package workflows_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/org/erlmcp-deploy/internal/imageref"
)

// The reusable preview workflow (.github/workflows/preview.yml), read the way
// GitHub reads it: which jobs run for which pull_request event, the
// concurrency group that lets a newer push or the close cancel a run, when the
// smoke test runs, and what a fork gets. Its examples: the caller on
// pull_request (never pull_request_target) and the scheduled reaper.

var previewJobs = []string{"validate", "test", "image", "preview", "down"}

// simulate decides, job by job in the order of previewJobs, which jobs of the
// preview workflow run for the event in github with inputs (over the
// workflow's defaults), as GitHub does: a job's `if:` sees success() only when
// every job it needs (directly or not) succeeded, failure() when one failed.
// A job that runs succeeds unless fail names it. It returns each job's result.
func simulate(t *testing.T, github map[string]any, inputs map[string]any, fail ...string) map[string]string {
	t.Helper()
	wf := loadWorkflow(t, previewPath)
	require.ElementsMatch(t, previewJobs, keys(wf.Jobs))
	in := map[string]any{}
	for name, i := range wf.On.WorkflowCall.Inputs {
		in[name] = i.Default
	}
	for k, v := range inputs {
		require.Contains(t, wf.On.WorkflowCall.Inputs, k)
		in[k] = v
	}
	results := map[string]string{}
	for _, id := range previewJobs {
		j := wf.Jobs[id]
		status := "success"
		needs := map[string]any{}
		for a := range ancestors(wf, id) {
			switch results[a] {
			case "success":
			case "failure":
				status = "failure"
			default:
				if status == "success" {
					status = "skipped" // neither success() nor failure()
				}
			}
		}
		for _, n := range j.needs() {
			needs[n] = map[string]any{"result": results[n]}
		}
		c := &exprCtx{status: status, vars: map[string]any{"github": github, "inputs": in, "needs": needs}}
		switch {
		case !evalIf(t, j.If, c):
			results[id] = "skipped"
		case slices.Contains(fail, id):
			results[id] = "failure"
		default:
			results[id] = "success"
		}
	}
	return results
}

// ran lists the jobs that ran, in order.
func ran(results map[string]string) []string {
	var out []string
	for _, id := range previewJobs {
		if results[id] != "skipped" {
			out = append(out, id)
		}
	}
	return out
}

// TestPreviewJobsByEvent: a push builds (unless an image is given, or the
// pull request is a fork the preview refuses) and brings the preview up; the
// close builds nothing and only takes it down; a failed build deploys nothing.
func TestPreviewJobsByEvent(t *testing.T) {
	const fork = "mallory/erlmcp"
	image := map[string]any{"image": "ghcr.io/acme/erlmcp:pr-12"}
	for _, tc := range []struct {
		name   string
		action string
		head   string
		inputs map[string]any
		fail   []string
		want   []string
	}{
		{"opened", "opened", "", nil, nil, []string{"validate", "test", "image", "preview"}},
		{"synchronize", "synchronize", "", nil, nil, []string{"validate", "test", "image", "preview"}},
		{"reopened", "reopened", "", nil, nil, []string{"validate", "test", "image", "preview"}},
		{"opened with an image", "opened", "", image, nil, []string{"validate", "preview"}},
		{"closed", "closed", "", nil, nil, []string{"validate", "down"}},
		{"closed with an image", "closed", "", image, nil, []string{"validate", "down"}},
		{"a fork: no build, the preview job refuses it", "opened", fork, nil, nil, []string{"validate", "preview"}},
		{"a fork with allow-forks", "synchronize", fork, map[string]any{"allow-forks": true}, nil, []string{"validate", "test", "image", "preview"}},
		{"a fork closed", "closed", fork, nil, nil, []string{"validate", "down"}},
		{"the tests fail", "opened", "", nil, []string{"test"}, []string{"validate", "test"}},
		{"the image fails", "synchronize", "", nil, []string{"image"}, []string{"validate", "test", "image"}},
		{"validate fails", "opened", "", nil, []string{"validate"}, []string{"validate"}},
		{"validate fails on close", "closed", "", nil, []string{"validate"}, []string{"validate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := tc.head
			if head == "" {
				head = "acme/erlmcp"
			}
			got := simulate(t, pullRequestContext(tc.action, head), tc.inputs, tc.fail...)
			assert.Equal(t, tc.want, ran(got), "%v", got)
		})
	}
}

// TestPreviewConcurrency: the preview and down jobs take one group per pull
// request and cancel what runs in it — a newer push cancels the older run's
// preview job, the close cancels an up in progress — and two pull requests
// never wait for each other.
func TestPreviewConcurrency(t *testing.T) {
	wf := loadWorkflow(t, previewPath)
	run := func(number int, action, sha, runID string) *exprCtx {
		return &exprCtx{status: "success", vars: map[string]any{"github": map[string]any{"repository": "acme/erlmcp",
			"run_id": runID, "sha": sha, "event_name": "pull_request",
			"event": map[string]any{"action": action, "number": number, "pull_request": map[string]any{"number": number}}}}}
	}
	groups := map[string]string{}
	for _, id := range []string{"preview", "down"} {
		group, cancel := wf.Jobs[id].concurrency()
		require.NotEmpty(t, group, "job %s has a concurrency group", id)
		assert.Equal(t, "true", cancel, "job %s: cancel-in-progress", id)
		push := evalTemplate(t, group, run(12, "opened", "aaaa", "1001"))
		assert.Equal(t, push, evalTemplate(t, group, run(12, "synchronize", "bbbb", "1002")), "job %s: two pushes of a pull request share the group", id)
		assert.Equal(t, push, evalTemplate(t, group, run(12, "closed", "bbbb", "1003")), "job %s: the close shares the group", id)
		assert.NotEqual(t, push, evalTemplate(t, group, run(13, "opened", "aaaa", "1001")), "job %s: another pull request has its own group", id)
		groups[id] = push
	}
	assert.Equal(t, groups["preview"], groups["down"], "the close cancels the up in progress")
}

// previewStep is the index of the step of job that uses our preview action.
func previewStep(t *testing.T, j *wfJob) int {
	t.Helper()
	for i, s := range j.Steps {
		if a, ok := ourAction(s.Uses); ok && a == "preview" {
			return i
		}
	}
	t.Fatalf("job %s has no preview step", j.ID)
	return -1
}

// TestPreviewSteps: the preview job checks out the release, checks its
// credentials, brings the preview up with the image (given or built), and
// smoke-tests it; the down job takes it down from the event, with nothing to
// build or deploy. Both act with the workflow's token and PREVIEW_KUBECONFIG.
func TestPreviewSteps(t *testing.T) {
	wf := loadWorkflow(t, previewPath)
	up, down := wf.Jobs["preview"], wf.Jobs["down"]
	pi := previewStep(t, up)
	require.Greater(t, pi, 1)
	assert.True(t, strings.HasPrefix(up.Steps[0].Uses, "actions/checkout@"), "the preview job checks out the manifests first")
	assert.Equal(t, "credentials", up.Steps[pi-1].ID)
	p := up.Steps[pi]
	assert.Equal(t, "preview", p.ID)
	assert.Equal(t, "${{ inputs.image || needs.image.outputs.ref }}", p.With["image"])
	assert.Equal(t, "${{ inputs.manifests }}", p.With["manifests"])
	require.Greater(t, len(up.Steps), pi+1)
	smoke := up.Steps[pi+1]
	id, _ := ourAction(smoke.Uses)
	assert.Equal(t, "smoke", id, "the smoke test follows the preview, in its job")
	assert.Equal(t, "${{ inputs.smoke-url || steps.preview.outputs.url }}", smoke.With["base-url"])
	for _, s := range []wfStep{p, down.Steps[previewStep(t, down)]} {
		assert.Equal(t, "${{ secrets.PREVIEW_KUBECONFIG }}", s.With["kubeconfig"])
		assert.Equal(t, "${{ github.token }}", s.With["github-token"])
		assert.NotContains(t, s.With, "command", "the event decides up or down")
	}
	d := down.Steps[previewStep(t, down)]
	assert.NotContains(t, d.With, "manifests", "down deploys nothing")
	assert.NotContains(t, d.With, "image", "down deploys nothing")
	for _, s := range down.Steps {
		assert.False(t, strings.HasPrefix(s.Uses, "actions/checkout@"), "down needs no checkout of the pull request's code")
	}
	// Only the preview and down jobs read the kubeconfig.
	for id, j := range wf.Jobs {
		if id == "preview" || id == "down" {
			continue
		}
		b, err := yaml.Marshal(j)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "PREVIEW_KUBECONFIG", "job %s must not read PREVIEW_KUBECONFIG", id)
	}
}

// TestPreviewSmokeOnlyWhenUp: the smoke test runs when the preview serves
// this push and has a URL (or smoke-url is given); never after a failed or
// refused push.
func TestPreviewSmokeOnlyWhenUp(t *testing.T) {
	up := loadWorkflow(t, previewPath).Jobs["preview"]
	smoke, ok := up.step("smoke")
	require.True(t, ok)
	for _, tc := range []struct {
		name              string
		stepStatus        string // the job's status before the smoke step
		status, url, over string
		want              bool
	}{
		{"up with a URL", "success", "up", "https://pr-12.preview.example.com", "", true},
		{"up, smoke-url given", "success", "up", "", "http://erlmcp.erlmcp-pr-12.svc:8080", true},
		{"up without any URL", "success", "up", "", "", false},
		{"the push failed", "failure", "failed", "https://pr-12.preview.example.com", "", false},
		{"refused (fork or max-previews)", "success", "refused", "", "", false},
		{"a fork: the preview step skipped", "success", "", "", "", false},
	} {
		c := &exprCtx{status: tc.stepStatus, vars: map[string]any{
			"inputs": map[string]any{"smoke-url": tc.over},
			"steps":  map[string]any{"preview": map[string]any{"outputs": map[string]any{"status": tc.status, "url": tc.url}}},
		}}
		assert.Equal(t, tc.want, evalIf(t, smoke.If, c), "%s: if: %s", tc.name, smoke.If)
		if tc.want {
			want := tc.over
			if want == "" {
				want = tc.url
			}
			assert.Equal(t, want, evalTemplate(t, smoke.With["base-url"], c), tc.name)
		}
	}
}

// TestPreviewForkGetsNoPreview: a fork's pull_request run has no secrets: the
// credentials check says so and does not fail the job, the preview step is
// skipped, and the workflow's status says refused; the down job of a fork
// does not fail either.
func TestPreviewForkGetsNoPreview(t *testing.T) {
	wf := loadWorkflow(t, previewPath)
	for _, id := range []string{"preview", "down"} {
		j := wf.Jobs[id]
		check, ok := j.step("credentials")
		require.True(t, ok, id)
		code, out, output := runCheck(t, check, "PREVIEW_KUBECONFIG", "", pullRequestContext("opened", "mallory/erlmcp"))
		assert.Equal(t, 0, code, "%s: %s", id, out)
		assert.Contains(t, out, "mallory/erlmcp", id)
		assert.Equal(t, "fork=true\n", output, id)
		steps := map[string]any{"credentials": map[string]any{"outputs": map[string]any{"fork": "true"}}}
		p := j.Steps[previewStep(t, j)]
		assert.False(t, evalIf(t, p.If, &exprCtx{status: "success", vars: map[string]any{"steps": steps}}), "%s: the preview step is skipped", id)
		steps["credentials"] = map[string]any{"outputs": map[string]any{}}
		assert.True(t, evalIf(t, p.If, &exprCtx{status: "success", vars: map[string]any{"steps": steps}}), "%s: the preview step runs", id)
	}
	up := wf.Jobs["preview"]
	status := up.Outputs["status"]
	c := func(fork, status string) *exprCtx {
		return &exprCtx{status: "success", vars: map[string]any{"steps": map[string]any{
			"credentials": map[string]any{"outputs": map[string]any{"fork": fork}},
			"preview":     map[string]any{"outputs": map[string]any{"status": status}}}}}
	}
	assert.Equal(t, "refused", evalTemplate(t, status, c("true", "")))
	assert.Equal(t, "up", evalTemplate(t, status, c("", "up")))
	assert.Equal(t, "failed", evalTemplate(t, status, c("", "failed")))
}

// TestPreviewImageTag runs the image job's naming steps: the image is named
// after the repository (lower case), tagged pr-<number>-<head commit>, and
// deployed by tag and digest.
func TestPreviewImageTag(t *testing.T) {
	j := loadWorkflow(t, previewPath).Jobs["image"]
	run := func(id string, env ...string) string {
		s, ok := j.step(id)
		require.True(t, ok, id)
		code, out, output := runScript(t, s.Run, "", append([]string{"PATH=" + os.Getenv("PATH")}, env...)...)
		require.Equal(t, 0, code, out)
		return output
	}
	assert.Equal(t, "name=ghcr.io/acme/erlmcp\ntag=pr-12-0123456\n",
		run("name", "IMAGE_NAME=ghcr.io/Acme/Erlmcp", "NUMBER=12", "HEAD_SHA=0123456789abcdef0123456789abcdef01234567"))
	digest := "sha256:" + strings.Repeat("ab", 32)
	out := run("ref", "NAME=ghcr.io/acme/erlmcp", "TAG=pr-12-0123456", "DIGEST="+digest)
	assert.Equal(t, "ref=ghcr.io/acme/erlmcp:pr-12-0123456@"+digest+"\n", out)
	ref, err := imageref.Parse(strings.TrimSpace(strings.TrimPrefix(out, "ref=")))
	require.NoError(t, err, "the preview action takes the reference")
	assert.Equal(t, digest, ref.Digest)
}

// TestPreviewPermissions: nothing by default; each job only what it needs.
func TestPreviewPermissions(t *testing.T) {
	b, err := os.ReadFile(previewPath)
	require.NoError(t, err)
	var wf struct {
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Permissions map[string]string `yaml:"permissions"`
		} `yaml:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &wf))
	assert.Empty(t, wf.Permissions, "permissions: {} at the top")
	preview := map[string]string{"contents": "read", "deployments": "write", "pull-requests": "write"}
	for id, want := range map[string]map[string]string{
		"validate": {},
		"test":     {"contents": "read"},
		"image":    {"contents": "read", "packages": "write"},
		"preview":  preview,
		"down":     preview,
	} {
		got := wf.Jobs[id].Permissions
		if got == nil {
			got = map[string]string{}
		}
		assert.Equal(t, want, got, "job %s", id)
	}
}

// TestValidatePreviewInputs runs the preview workflow's validate step.
func TestValidatePreviewInputs(t *testing.T) {
	good := map[string]string{"manifests": "deploy/kubernetes/erlmcp"}
	with := withOver(good)
	opened := pullRequestContext("opened", "acme/erlmcp")
	for _, tc := range []struct {
		name   string
		with   map[string]string
		github map[string]any
		bad    []string // inputs named in ::error title=Invalid input <name>; empty: valid
		event  string   // the title of an event error
	}{
		{"defaults and manifests", with(), opened, nil, ""},
		{"closed", with(), pullRequestContext("closed", "acme/erlmcp"), nil, ""},
		{"everything set", with("image", "ghcr.io/acme/erlmcp:pr-12@sha256:"+strings.Repeat("ab", 32), "image-name", "ghcr.io/Acme/erlmcp",
			"release", "erlmcp", "namespace-prefix", "erlmcp-pr-", "url-template", "https://pr-{number}.{sha}.preview.example.com/{namespace}",
			"smoke-url", "http://127.0.0.1:8080", "max-previews", "0", "timeout", "90s", "smoke-wait", "0", "slack-channel", "C0123PREVIEW"), opened, nil, ""},
		{"manifests: two, one per line", with("manifests", "deploy/erlmcp\n deploy/dashboard \n"), opened, nil, ""},
		{"missing manifests", with("manifests", " \n"), opened, []string{"manifests"}, ""},
		{"manifests outside the repository", with("manifests", "deploy,../infra"), opened, []string{"manifests"}, ""},
		{"manifests: an absolute path", with("manifests", "/etc/erlmcp"), opened, []string{"manifests"}, ""},
		{"image with a space", with("image", "ghcr.io/acme/erlmcp pr-12"), opened, []string{"image"}, ""},
		{"image name with a tag", with("image-name", "ghcr.io/acme/erlmcp:pr"), opened, []string{"image-name"}, ""},
		{"release with upper case", with("release", "ErlMCP"), opened, []string{"release"}, ""},
		{"namespace prefix with an underscore", with("namespace-prefix", "pr_"), opened, []string{"namespace-prefix"}, ""},
		{"namespace prefix starting with a digit", with("namespace-prefix", "1-pr-"), opened, []string{"namespace-prefix"}, ""},
		{"namespace prefix too long with the number", with("namespace-prefix", strings.Repeat("a", 62)), opened, []string{"namespace-prefix"}, ""},
		{"url-template: unknown placeholder", with("url-template", "https://{branch}.preview.example.com"), opened, []string{"url-template"}, ""},
		{"url-template: not http", with("url-template", "pr-{number}.preview.example.com"), opened, []string{"url-template"}, ""},
		{"smoke-url: not a URL", with("smoke-url", "erlmcp:8080"), opened, []string{"smoke-url"}, ""},
		{"max-previews negative", with("max-previews", "-1"), opened, []string{"max-previews"}, ""},
		{"max-previews fractional", with("max-previews", "1.5"), opened, []string{"max-previews"}, ""},
		{"zero timeout", with("timeout", "0s"), opened, []string{"timeout"}, ""},
		{"smoke-wait in words", with("smoke-wait", "a while"), opened, []string{"smoke-wait"}, ""},
		{"slack channel by name", with("slack-channel", "#previews"), opened, []string{"slack-channel"}, ""},
		{"pull_request_target is refused", with(), map[string]any{"event_name": "pull_request_target", "event": map[string]any{"action": "opened"}},
			nil, "Refused event pull_request_target"},
		{"push is not an event of previews", with(), map[string]any{"event_name": "push", "event": map[string]any{}}, nil, "Unsupported event push"},
		{"an action that asks nothing", with(), pullRequestContext("labeled", "acme/erlmcp"), nil, "Unsupported event action labeled"},
		{"every error at once", with("manifests", "", "timeout", "x"), map[string]any{"event_name": "pull_request_target"},
			[]string{"manifests", "timeout"}, "Refused event pull_request_target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runValidate(t, previewPath, tc.with, tc.github)
			assertValidate(t, code, out, tc.bad, tc.event, "::error::%d invalid input(s) or event error(s): nothing was built or deployed")
		})
	}

	// A value is data, never code.
	marker := filepath.Join(t.TempDir(), "pwned")
	code, out := runValidate(t, previewPath, with("url-template", "https://x/$(touch "+marker+")", "namespace-prefix", "`touch "+marker+"`"), opened)
	assert.Equal(t, 1, code, out)
	assert.NoFileExists(t, marker)
}

// events are the events of a workflow file's `on:`, each with its `types:`
// (nil when none).
func events(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var w struct {
		On yaml.Node `yaml:"on"`
	}
	require.NoError(t, yaml.Unmarshal(b, &w), path)
	out := map[string][]string{}
	switch w.On.Kind {
	case yaml.ScalarNode:
		out[w.On.Value] = nil
	case yaml.SequenceNode:
		for _, n := range w.On.Content {
			out[n.Value] = nil
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(w.On.Content); i += 2 {
			var e struct {
				Types []string `yaml:"types"`
			}
			_ = w.On.Content[i+1].Decode(&e)
			out[w.On.Content[i].Value] = e.Types
		}
	}
	return out
}

// TestNoPullRequestTarget: no workflow runs on pull_request_target (it runs
// with the repository's secrets, and a preview deploys the pull request's
// code); the preview workflow's callers run on pull_request, for every push
// and for the close.
func TestNoPullRequestTarget(t *testing.T) {
	callers := 0
	for _, f := range workflowFiles(t) {
		ev := events(t, f)
		assert.NotContains(t, ev, "pull_request_target", f)
		calls := false
		for _, s := range steps(t, f) {
			calls = calls || strings.HasPrefix(s.Uses, "org/erlmcp-deploy/.github/workflows/preview.yml@")
		}
		if !calls {
			continue
		}
		callers++
		assert.Equal(t, []string{"pull_request"}, keys(ev), "%s: a caller of the preview workflow runs on pull_request only", f)
		types := ev["pull_request"]
		for _, want := range []string{"opened", "synchronize", "reopened", "closed"} {
			assert.Contains(t, types, want, "%s: pull_request types", f)
		}
		for _, typ := range types {
			assert.Contains(t, []string{"opened", "synchronize", "reopened", "closed"}, typ, "%s: the preview acts on no other type", f)
		}
	}
	assert.Positive(t, callers, "examples/workflows has a caller of the preview workflow")
}

// TestPreviewReaperExample: the reaper runs on a schedule and by hand (with a
// dry run), reaps with a ttl, with the token's rights it needs and no more.
func TestPreviewReaperExample(t *testing.T) {
	const path = "../../examples/workflows/preview-reaper.yml"
	ev := events(t, path)
	assert.ElementsMatch(t, []string{"schedule", "workflow_dispatch"}, keys(ev))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var w struct {
		On struct {
			WorkflowDispatch struct {
				Inputs map[string]struct {
					Type string `yaml:"type"`
				} `yaml:"inputs"`
			} `yaml:"workflow_dispatch"`
		} `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]*wfJob `yaml:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &w))
	assert.Equal(t, "boolean", w.On.WorkflowDispatch.Inputs["dry-run"].Type)
	assert.Equal(t, map[string]string{"contents": "read", "deployments": "write", "pull-requests": "write"}, w.Permissions)
	found := false
	for _, j := range w.Jobs {
		for _, s := range j.Steps {
			if a, ok := ourAction(s.Uses); !ok || a != "preview" {
				continue
			}
			found = true
			assert.Equal(t, "reap", s.With["command"])
			assert.NotEmpty(t, s.With["ttl"])
			assert.Equal(t, "${{ secrets.PREVIEW_KUBECONFIG }}", s.With["kubeconfig"])
			dry := s.With["dry-run"]
			assert.Equal(t, "false", evalTemplate(t, dry, &exprCtx{vars: map[string]any{"inputs": map[string]any{}}}), "on schedule: no dry run")
			assert.Equal(t, "true", evalTemplate(t, dry, &exprCtx{vars: map[string]any{"inputs": map[string]any{"dry-run": true}}}))
			assert.Equal(t, "false", evalTemplate(t, dry, &exprCtx{vars: map[string]any{"inputs": map[string]any{"dry-run": false}}}))
		}
	}
	assert.True(t, found, "the reaper uses the preview action")
}
