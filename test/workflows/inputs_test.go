package workflows_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An input error must change nothing: the pipeline checks every input in its
// first job, and rolls back only when the smoke test reports a failure of the
// service — never when the smoke step itself was misconfigured.

// freeForm are, per reusable workflow, the inputs its validate job does not
// check, and why.
var freeForm = map[string]map[string]string{
	pipelinePath: {
		"resolve-digest":   "a boolean: GitHub refuses anything else when the run starts",
		"otp-version":      "handed to erlef/setup-beam in the build job, which says what it cannot install",
		"rebar3-version":   "the same",
		"test-command":     "any shell command",
		"build-command":    "any shell command",
		"release-dir":      "any directory; the build job fails (before any deploy) when it is missing",
		"dockerfile":       "any path; the image job fails (before any deploy) when it is missing",
		"mcp-expect-tools": "any list of tool names",
		"slack-mention":    "any Slack mention text",
		"runs-on":          "any runner label; GitHub resolves it",
	},
	previewPath: {
		"allow-forks":      "a boolean: GitHub refuses anything else when the run starts",
		"otp-version":      "handed to erlef/setup-beam in the test job, which says what it cannot install",
		"rebar3-version":   "the same",
		"test-command":     "any shell command, or empty",
		"dockerfile":       "any path; the image job fails (before the preview) when it is missing",
		"mcp-expect-tools": "any list of tool names",
		"runs-on":          "any runner label; GitHub resolves it",
	},
}

// ancestors are the jobs j needs, directly or not.
func ancestors(wf *wfFile, id string) map[string]bool {
	out := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		for _, n := range wf.Jobs[id].needs() {
			if !out[n] {
				out[n] = true
				walk(n)
			}
		}
	}
	walk(id)
	return out
}

// TestInputsAreValidatedBeforeAnything: in each reusable workflow, a
// `validate` job with no needs holds every input that can be wrong, and no job
// that builds or deploys runs when it failed.
func TestInputsAreValidatedBeforeAnything(t *testing.T) {
	for _, path := range reusable {
		t.Run(filepath.Base(path), func(t *testing.T) {
			wf := loadWorkflow(t, path)
			v, ok := wf.Jobs["validate"]
			require.True(t, ok, "the workflow has a validate job")
			assert.Empty(t, v.needs(), "validate runs first")
			assert.Empty(t, v.environmentName(), "validate waits for no approval")
			step, ok := v.step("inputs")
			require.True(t, ok, "validate has a step with id inputs")

			checked := map[string]bool{}
			ref := regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}`)
			for _, val := range step.Env {
				for _, m := range ref.FindAllStringSubmatch(val, -1) {
					checked[m[1]] = true
				}
			}
			assert.NotContains(t, step.Run, "${{", "the script reads inputs from env, never by interpolation (script injection)")
			inputs := wf.On.WorkflowCall.Inputs
			free := freeForm[path]
			for name := range inputs {
				_, isFree := free[name]
				assert.True(t, checked[name] || isFree, "input %s is neither validated by the validate job nor listed as free-form (with a reason) here", name)
				assert.False(t, checked[name] && isFree, "input %s is validated: remove it from freeForm", name)
			}
			for name := range free {
				assert.Contains(t, inputs, name, "freeForm lists %s, which the workflow no longer has", name)
			}

			// validate failed, whatever the event: a job that needs it must not run.
			for _, action := range []string{"opened", "closed", ""} {
				failed := &exprCtx{status: "failure", vars: map[string]any{
					"inputs": map[string]any{"target": "production", "image": ""},
					"needs":  map[string]any{"validate": map[string]any{"result": "failure"}},
					"github": map[string]any{"event_name": "pull_request", "event": map[string]any{"action": action}},
				}}
				for id, j := range wf.Jobs {
					if id == "validate" {
						continue
					}
					assert.True(t, ancestors(wf, id)["validate"], "job %s must need validate (directly or not)", id)
					assert.False(t, evalIf(t, j.If, failed), "job %s must not run when validate failed (if: %q, action %q)", id, j.If, action)
				}
			}
		})
	}
}

// runValidate runs the validate step's script of the workflow at path as the
// runner would, with the workflow's defaults overridden by with and the
// github context github, and returns its exit code and output.
func runValidate(t *testing.T, path string, with map[string]string, github map[string]any) (int, string) {
	t.Helper()
	wf := loadWorkflow(t, path)
	step, ok := wf.Jobs["validate"].step("inputs")
	require.True(t, ok)
	inputs := map[string]any{}
	for name, in := range wf.On.WorkflowCall.Inputs {
		inputs[name] = str(in.Default)
	}
	for k, v := range with {
		_, declared := wf.On.WorkflowCall.Inputs[k]
		require.True(t, declared, "no input %s", k)
		inputs[k] = v
	}
	c := &exprCtx{status: "success", vars: map[string]any{"inputs": inputs, "github": github}}
	dir := t.TempDir()
	script := filepath.Join(dir, "step.sh")
	require.NoError(t, os.WriteFile(script, []byte(step.Run), 0o644))
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	for k, v := range step.Env {
		cmd.Env = append(cmd.Env, k+"="+evalTemplate(t, v, c))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), out.String()
	}
	require.NoError(t, err)
	return 0, out.String()
}

// withOver returns with: the inputs good with each pair of kv (name,
// value) set over them, a new map per call.
func withOver(good map[string]string) func(kv ...string) map[string]string {
	return func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
}

// assertValidate checks what a validate step said: with no bad input and
// no event error, exit 0 and no ::error; else exit 1, an `::error
// title=Invalid input <name>::` for exactly the inputs of bad, the event
// error `::error title=<event>::` when event is not "", and the summary,
// a format of the number of errors.
func assertValidate(t *testing.T, code int, out string, bad []string, event, summary string) {
	t.Helper()
	if len(bad) == 0 && event == "" {
		assert.Equal(t, 0, code, out)
		assert.NotContains(t, out, "::error")
		return
	}
	assert.Equal(t, 1, code, out)
	got := regexp.MustCompile(`::error title=Invalid input ([a-z-]+)::`).FindAllStringSubmatch(out, -1)
	var names []string
	for _, m := range got {
		names = append(names, m[1])
	}
	assert.ElementsMatch(t, bad, names, out)
	errs := len(bad)
	if event != "" {
		assert.Contains(t, out, "::error title="+event+"::")
		errs++
	}
	assert.Contains(t, out, fmt.Sprintf(summary, errs))
}

func TestValidateInputs(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed to run the validate step")
	}
	good := map[string]string{"staging-url": "https://erlmcp.staging.example.com", "production-url": "https://erlmcp.example.com"}
	with := withOver(good)
	for _, tc := range []struct {
		name string
		with map[string]string
		bad  []string // inputs named in ::error title=Invalid input <name>; empty: valid
	}{
		{"defaults and both URLs", with(), nil},
		{"everything set", with("image", "ghcr.io/acme/erlmcp@sha256:"+strings.Repeat("ab", 32), "image-name", "ghcr.io/Acme/erlmcp",
			"namespace", "erlmcp-prod", "deployment", "erlmcp.v2", "timeout", "1h30m", "smoke-wait", "0", "slack-channel", "C0123DEPLOYS",
			"staging-url", "http://127.0.0.1:8080/prefix", "production-url", "https://[::1]:8443"), nil},
		{"a registry with a port and a tag", with("image", "registry.local:5000/team/erlmcp:1.2.0-rc.1"), nil},
		{"a timeout in seconds", with("timeout", "90"), nil},
		{"staging only needs no production URL", with("target", "staging", "production-url", ""), nil},
		{"missing production URL", with("production-url", ""), []string{"production-url"}},
		{"missing staging URL", with("staging-url", ""), []string{"staging-url"}},
		{"unknown target", with("target", "prod"), []string{"target"}},
		{"URL without scheme", with("staging-url", "erlmcp.staging.example.com"), []string{"staging-url"}},
		{"bad production URL on staging only", with("target", "staging", "production-url", "ftp://x"), []string{"production-url"}},
		{"image with a space", with("image", "ghcr.io/acme/erlmcp 1.2.0"), []string{"image"}},
		{"image with a short digest", with("image", "ghcr.io/acme/erlmcp@sha256:abc"), []string{"image"}},
		{"image name with a tag", with("image-name", "ghcr.io/acme/erlmcp:1.2.0"), []string{"image-name"}},
		{"namespace with upper case", with("namespace", "Erlmcp"), []string{"namespace"}},
		{"namespace too long", with("namespace", strings.Repeat("a", 64)), []string{"namespace"}},
		{"deployment with underscore", with("deployment", "erl_mcp"), []string{"deployment"}},
		{"timeout in words", with("timeout", "10 minutes"), []string{"timeout"}},
		{"zero timeout", with("timeout", "0s"), []string{"timeout"}},
		{"smoke wait not a duration", with("smoke-wait", "soon"), []string{"smoke-wait"}},
		{"slack channel name", with("slack-channel", "#deploys"), []string{"slack-channel"}},
		{"manifests: a directory and an overlay", with("manifests", "deploy/kubernetes/erlmcp, deploy/overlays/production\n"), nil},
		{"manifests: one per line", with("manifests", "deploy/erlmcp.yaml\n  deploy/dashboard.yaml  \n"), nil},
		{"manifests: an absolute path", with("manifests", "/etc/erlmcp"), []string{"manifests"}},
		{"manifests: outside the repository", with("manifests", "deploy/erlmcp,../infra/erlmcp"), []string{"manifests"}},
		{"every error at once", with("target", "both", "staging-url", "", "timeout", "x"), []string{"target", "staging-url", "timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runValidate(t, pipelinePath, tc.with, nil)
			assertValidate(t, code, out, tc.bad, "", "::error::%d invalid input(s): nothing was built or deployed")
		})
	}

	// A value is data, never code.
	marker := filepath.Join(t.TempDir(), "pwned")
	code, out := runValidate(t, pipelinePath, with("staging-url", "https://x/$(touch "+marker+")", "namespace", "`touch "+marker+"`"), nil)
	assert.Equal(t, 1, code, out)
	assert.NoFileExists(t, marker)
}

// smokeScenario is what the steps of an environment job did before the
// rollback step is considered.
type smokeScenario struct {
	name                string
	deploy              string // outcome of the deploy step
	revision, previous  string // its revision and previous-revision outputs
	release, objects    string // its release and objects outputs (a release deploy: manifests)
	smoke               string // outcome of the smoke step ("skipped" when it did not run)
	failed              string // its `failed` output ("" when it exited before checking: exit 2)
	cancelled, rollback bool   // the run was cancelled; the rollback step must run
}

// TestRollbackOnlyOnAServiceFailure evaluates the rollback step's `if:` of
// each environment job the way the runner does: it runs when the smoke test
// reported failing checks of a release this run deployed, and never on an
// input error of the smoke step (exit 2, no `failed` output), on a deploy
// that changed nothing, or on a cancelled run. A release deploy (manifests)
// counts as a change when it created, configured or pruned an object and a
// verified revision preceded it.
func TestRollbackOnlyOnAServiceFailure(t *testing.T) {
	wf := loadWorkflow(t, pipelinePath)
	for env, jobs := range envJobs(wf) {
		j := wf.Jobs[jobs[0]]
		ri := j.stepIndex("rollback", env)
		require.GreaterOrEqual(t, ri, 0, env)
		rb := j.Steps[ri]
		deploy, smoke := j.Steps[j.stepIndex("deploy", env)], j.Steps[j.stepIndex("smoke", env)]
		require.NotEmpty(t, deploy.ID, "%s: the deploy step has an id", env)
		require.NotEmpty(t, smoke.ID, "%s: the smoke step has an id", env)
		assert.Equal(t, "last-successful", rb.With["to"],
			"%s: the rollback returns to the last successful revision (the one it rolls back from is recorded as failed, so a smoke-failed release never is)", env)

		for _, sc := range []smokeScenario{
			{name: "smoke found failing checks", deploy: "success", revision: "4", previous: "3", smoke: "failure", failed: "2", rollback: true},
			{name: "smoke found one failing check", deploy: "success", revision: "12", previous: "9", smoke: "failure", failed: "1", rollback: true},
			{name: "smoke passed", deploy: "success", revision: "4", previous: "3", smoke: "success", failed: "0"},
			{name: "smoke input error (exit 2, no outputs)", deploy: "success", revision: "4", previous: "3", smoke: "failure", failed: ""},
			{name: "smoke step failed with every check passing", deploy: "success", revision: "4", previous: "3", smoke: "failure", failed: "0"},
			{name: "deploy changed nothing", deploy: "success", revision: "3", previous: "3", smoke: "failure", failed: "2"},
			{name: "deploy failed (and rolled itself back)", deploy: "failure", revision: "5", previous: "3", smoke: "skipped"},
			{name: "cancelled during the smoke test", deploy: "success", revision: "4", previous: "3", smoke: "cancelled", cancelled: true},
			// A release deploy: what counts is whether it changed an object, and whether a verified revision
			// preceded it (the rollback restores that one as a whole).
			{name: "release: the Deployment was configured", deploy: "success", revision: "4", previous: "3", release: "erlmcp",
				objects: objectsJSON("ConfigMap/erlmcp-config", "unchanged", "Deployment/erlmcp", "configured"), smoke: "failure", failed: "2", rollback: true},
			{name: "release: only a ConfigMap changed", deploy: "success", revision: "4", previous: "3", release: "erlmcp",
				objects: objectsJSON("ConfigMap/erlmcp-config", "configured", "Deployment/erlmcp", "unchanged"), smoke: "failure", failed: "1", rollback: true},
			{name: "release: an object created, another pruned", deploy: "success", revision: "4", previous: "3", release: "erlmcp",
				objects: objectsJSON("ConfigMap/erlmcp-new", "created", "Service/erlmcp-headless", "pruned"), smoke: "failure", failed: "1", rollback: true},
			{name: "release: nothing changed (no new revision)", deploy: "success", revision: "3", previous: "3", release: "erlmcp",
				objects: objectsJSON("ConfigMap/erlmcp-config", "unchanged", "Deployment/erlmcp", "unchanged"), smoke: "failure", failed: "2"},
			{name: "release: a new revision that changed nothing (the newest revision had not verified)", deploy: "success", revision: "5", previous: "3",
				release: "erlmcp", objects: objectsJSON("ConfigMap/erlmcp-config", "unchanged", "Deployment/erlmcp", "unchanged"), smoke: "failure", failed: "2"},
			{name: "release: an object kept, not pruned", deploy: "success", revision: "4", previous: "3", release: "erlmcp",
				objects: objectsJSON("ConfigMap/erlmcp-config", "unchanged", "Service/erlmcp-old", "not pruned"), smoke: "failure", failed: "2"},
			{name: "release: first deploy (no verified revision before it)", deploy: "success", revision: "1", release: "erlmcp",
				objects: objectsJSON("Deployment/erlmcp", "created"), smoke: "failure", failed: "2"},
			{name: "release: smoke passed", deploy: "success", revision: "4", previous: "3", release: "erlmcp",
				objects: objectsJSON("Deployment/erlmcp", "configured"), smoke: "success", failed: "0"},
			{name: "release: smoke input error", deploy: "success", revision: "4", previous: "3", release: "erlmcp",
				objects: objectsJSON("Deployment/erlmcp", "configured"), smoke: "failure", failed: ""},
			{name: "release: deploy failed (and restored the release itself)", deploy: "failure", revision: "5", previous: "3", release: "erlmcp",
				objects: objectsJSON("Deployment/erlmcp", "configured"), smoke: "skipped"},
		} {
			steps := map[string]any{}
			status := "success"
			for _, s := range j.Steps[:ri] {
				outcome, outputs := "success", map[string]any{}
				switch s.ID {
				case deploy.ID:
					outcome = sc.deploy
					outputs = map[string]any{"revision": sc.revision, "previous-revision": sc.previous, "status": "succeeded",
						"release": sc.release, "objects": sc.objects}
				case smoke.ID:
					outcome = sc.smoke
					if sc.failed != "" {
						outputs = map[string]any{"failed": sc.failed, "passed": "5"}
					}
				}
				if outcome == "failure" && !s.ContinueOnError {
					status = "failure"
				}
				if s.ID != "" {
					conclusion := outcome
					if s.ContinueOnError && outcome == "failure" {
						conclusion = "success"
					}
					steps[s.ID] = map[string]any{"outcome": outcome, "conclusion": conclusion, "outputs": outputs}
				}
			}
			if sc.cancelled {
				status = "cancelled"
			}
			c := &exprCtx{status: status, vars: map[string]any{"steps": steps, "inputs": map[string]any{"target": "production"}}}
			assert.Equal(t, sc.rollback, evalIf(t, rb.If, c), "%s: %s: rollback step if: %s", env, sc.name, rb.If)
		}
	}
}

// objectsJSON is a release deploy's `objects` output: name, action pairs.
func objectsJSON(nameAction ...string) string {
	type object struct {
		Name   string `json:"name"`
		Action string `json:"action"`
		State  string `json:"state,omitempty"`
	}
	var objs []object
	for i := 0; i+1 < len(nameAction); i += 2 {
		objs = append(objs, object{Name: nameAction[i], Action: nameAction[i+1], State: "ready"})
	}
	b, err := json.Marshal(objs)
	if err != nil {
		panic(err)
	}
	return string(b)
}
