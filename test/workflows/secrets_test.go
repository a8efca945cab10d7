package workflows_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// GitHub allows [A-Za-z0-9_] in secret names (not starting with a digit or
// GITHUB_), and a called workflow sees a secret of an environment only with
// `secrets: inherit`, in the job that names that environment.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var secretRef = regexp.MustCompile(`secrets\.([A-Za-z0-9_-]+)`)

// TestSecretsCanBeEnvironmentSecrets: each reusable workflow's secrets have
// names a repository or environment secret can have, none is required (an
// environment secret is invisible when the run starts), and every one it reads
// is declared; the pipeline reads each environment's kubeconfig only in that
// environment's job.
func TestSecretsCanBeEnvironmentSecrets(t *testing.T) {
	for _, path := range reusable {
		wf := loadWorkflow(t, path)
		declared := wf.On.WorkflowCall.Secrets
		require.NotEmpty(t, declared, path)
		for name, s := range declared {
			assert.Regexp(t, secretName, name, "%s: secret %s cannot be a repository or environment secret", path, name)
			assert.False(t, strings.HasPrefix(strings.ToUpper(name), "GITHUB_"), "%s: %s", path, name)
			assert.False(t, s.Required, "%s: secret %s: a required secret fails `secrets: inherit` when it is an environment secret; check it in its job", path, name)
		}
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, m := range secretRef.FindAllStringSubmatch(string(raw), -1) {
			if m[1] == "GITHUB_TOKEN" {
				continue
			}
			assert.Contains(t, declared, m[1], "%s: secrets.%s is used but not declared", path, m[1])
		}
	}

	wf := loadWorkflow(t, pipelinePath)
	declared := wf.On.WorkflowCall.Secrets
	for env, jobs := range envJobs(wf) {
		want := strings.ToUpper(env) + "_KUBECONFIG"
		require.Contains(t, declared, want)
		j := wf.Jobs[jobs[0]]
		for _, s := range j.Steps {
			if id, ok := ourAction(s.Uses); ok && (id == "deploy" || id == "rollback") {
				assert.Equal(t, "${{ secrets."+want+" }}", s.With["kubeconfig"], "%s: %s reads %s", env, id, want)
			}
		}
		// Only the job past the environment's gate reads its kubeconfig.
		for id, other := range wf.Jobs {
			if id == j.ID {
				continue
			}
			b, err := yaml.Marshal(other)
			require.NoError(t, err)
			assert.NotContains(t, string(b), "secrets."+want, "job %s must not read %s", id, want)
		}
	}
}

// kubeconfigCheck is a job whose step `action` (one of our actions) reads the
// kubeconfig secret `secret`.
type kubeconfigCheck struct {
	path, job, action, secret string
}

// kubeconfigJobs are the jobs of the reusable workflows that hand a
// kubeconfig secret to one of our actions.
func kubeconfigJobs(t *testing.T) []kubeconfigCheck {
	var out []kubeconfigCheck
	for env, jobs := range envJobs(loadWorkflow(t, pipelinePath)) {
		out = append(out, kubeconfigCheck{pipelinePath, jobs[0], "deploy", strings.ToUpper(env) + "_KUBECONFIG"})
	}
	for id, j := range loadWorkflow(t, previewPath).Jobs {
		for _, s := range j.Steps {
			if a, ok := ourAction(s.Uses); ok && a == "preview" {
				out = append(out, kubeconfigCheck{previewPath, id, "preview", "PREVIEW_KUBECONFIG"})
				break
			}
		}
	}
	return out
}

// runCheck runs step (a kubeconfig check) as the runner would: its env
// evaluated in github (the secret set to value), with a GITHUB_OUTPUT file. It
// returns the exit code, the output and what the step wrote to GITHUB_OUTPUT.
func runCheck(t *testing.T, s wfStep, secret, value string, github map[string]any) (int, string, string) {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH")}
	c := &exprCtx{status: "success", vars: map[string]any{"github": github}}
	for k, v := range s.Env {
		if strings.Contains(v, "secrets."+secret) {
			v = value
		} else {
			v = evalTemplate(t, v, c)
		}
		env = append(env, k+"="+v)
	}
	return runScript(t, s.Run, "", env...)
}

// runScript runs a step's run script as the runner does (bash --noprofile
// --norc -e -o pipefail <file>), in dir (the test's own when ""), with env
// and then GITHUB_OUTPUT, an empty file. It returns the exit code, the
// output (stdout and stderr together) and what the script wrote to
// GITHUB_OUTPUT.
func runScript(t *testing.T, run, dir string, env ...string) (int, string, string) {
	t.Helper()
	tmp := t.TempDir()
	script, output := filepath.Join(tmp, "step.sh"), filepath.Join(tmp, "output")
	require.NoError(t, os.WriteFile(script, []byte(run), 0o644))
	require.NoError(t, os.WriteFile(output, nil, 0o644))
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
	cmd.Dir = dir
	cmd.Env = append(env, "GITHUB_OUTPUT="+output)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	b, err := os.ReadFile(output)
	require.NoError(t, err)
	return code, out.String(), string(b)
}

// pullRequestContext is the github context of a pull_request event of
// acme/erlmcp whose head is in headRepo.
func pullRequestContext(action, headRepo string) map[string]any {
	return map[string]any{"repository": "acme/erlmcp", "event_name": "pull_request", "token": "ghs_x",
		"event": map[string]any{"action": action, "number": 12, "pull_request": map[string]any{"number": 12,
			"head": map[string]any{"sha": "0123456789abcdef0123456789abcdef01234567", "repo": map[string]any{"full_name": headRepo}}}}}
}

// TestMissingKubeconfigStopsBeforeTheDeploy: each job that hands a
// kubeconfig secret to one of our actions checks it first (an empty one would
// make the action fall back to whatever credentials the runner has), and
// names the secret.
func TestMissingKubeconfigStopsBeforeTheDeploy(t *testing.T) {
	checks := kubeconfigJobs(t)
	require.Len(t, checks, 4, "staging and production of the pipeline, preview and down of the preview workflow")
	for _, kc := range checks {
		j := loadWorkflow(t, kc.path).Jobs[kc.job]
		name := filepath.Base(kc.path) + "/" + kc.job
		use := -1
		for i, s := range j.Steps {
			if a, ok := ourAction(s.Uses); ok && a == kc.action {
				use = i
				break
			}
		}
		require.GreaterOrEqual(t, use, 0, name)
		check := -1
		for i, s := range j.Steps[:use] {
			for _, v := range s.Env {
				if strings.Contains(v, "secrets."+kc.secret) && s.Run != "" {
					check = i
				}
			}
		}
		require.GreaterOrEqual(t, check, 0, "%s: a step before the %s step checks %s", name, kc.action, kc.secret)
		s := j.Steps[check]
		assert.Empty(t, s.If, "%s: the check always runs", name)
		for _, tc := range []struct {
			value string
			code  int
		}{{"", 1}, {"apiVersion: v1\nkind: Config\n", 0}} {
			code, out, _ := runCheck(t, s, kc.secret, tc.value, pullRequestContext("opened", "acme/erlmcp"))
			assert.Equal(t, tc.code, code, "%s with %q: %s", name, tc.value, out)
			if tc.code != 0 {
				assert.Contains(t, out, "::error title=Missing secret "+kc.secret+"::", name)
				assert.Contains(t, out, "secrets: inherit", name)
			}
		}
	}
}

// TestCallersOfTheReusableWorkflows: every caller (examples/workflows) of
// the pipeline or the preview workflow passes only inputs and secrets it
// declares, every required input, and the examples show both ways to pass
// secrets.
func TestCallersOfTheReusableWorkflows(t *testing.T) {
	called := map[string]*wfFile{}
	for _, path := range reusable {
		called["org/erlmcp-deploy/.github/workflows/"+filepath.Base(path)+"@"] = loadWorkflow(t, path)
	}
	files, err := filepath.Glob("../../examples/workflows/*.yml")
	require.NoError(t, err)
	ways := map[string]bool{}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var caller struct {
			Jobs map[string]struct {
				Uses    string            `yaml:"uses"`
				With    map[string]string `yaml:"with"`
				Secrets yaml.Node         `yaml:"secrets"`
			} `yaml:"jobs"`
		}
		require.NoError(t, yaml.Unmarshal(b, &caller), f)
		for id, j := range caller.Jobs {
			var wf *wfFile
			for prefix, w := range called {
				if strings.HasPrefix(j.Uses, prefix) {
					wf, seen[prefix] = w, true
				}
			}
			if wf == nil {
				continue
			}
			for name := range j.With {
				assert.Contains(t, wf.On.WorkflowCall.Inputs, name, "%s: job %s: %s has no input %s", f, id, j.Uses, name)
			}
			for name, in := range wf.On.WorkflowCall.Inputs {
				if in.Required {
					assert.Contains(t, j.With, name, "%s: job %s: input %s is required", f, id, name)
				}
			}
			switch j.Secrets.Kind {
			case yaml.ScalarNode:
				assert.Equal(t, "inherit", j.Secrets.Value, "%s: job %s", f, id)
				ways["inherit"] = true
			case yaml.MappingNode:
				var m map[string]string
				require.NoError(t, j.Secrets.Decode(&m))
				for name, v := range m {
					assert.Contains(t, wf.On.WorkflowCall.Secrets, name, "%s: job %s: %s has no secret %s", f, id, j.Uses, name)
					assert.Regexp(t, `^\$\{\{ secrets\.[A-Za-z_][A-Za-z0-9_]* \}\}$`, v, "%s: job %s: %s", f, id, name)
				}
				ways["mapped"] = true
			default:
				t.Errorf("%s: job %s passes no secrets to %s", f, id, j.Uses)
			}
		}
	}
	assert.Len(t, seen, len(reusable), "examples/workflows has a caller of each reusable workflow")
	assert.True(t, ways["inherit"], "an example passes environment secrets with `secrets: inherit`")
	assert.True(t, ways["mapped"], "an example maps secrets one by one")
}

// TestShortLivedCredentialsExample: an example gets the kubeconfig from the
// cloud's own OIDC login in a job that may request GitHub's OIDC token, and
// deploys with no kubeconfig input ($KUBECONFIG is read).
func TestShortLivedCredentialsExample(t *testing.T) {
	files, err := filepath.Glob("../../examples/workflows/*.yml")
	require.NoError(t, err)
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var w struct {
			Permissions map[string]string `yaml:"permissions"`
			Jobs        map[string]struct {
				Permissions map[string]string `yaml:"permissions"`
				Environment string            `yaml:"environment"`
				Steps       []wfStep          `yaml:"steps"`
			} `yaml:"jobs"`
		}
		if yaml.Unmarshal(b, &w) != nil {
			continue
		}
		for id, j := range w.Jobs {
			login, kubeconfig, deploy := -1, -1, -1
			for i, s := range j.Steps {
				switch {
				case strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@"), strings.HasPrefix(s.Uses, "azure/login@"),
					strings.HasPrefix(s.Uses, "google-github-actions/auth@"):
					login = i
				case strings.Contains(s.Run, "KUBECONFIG=") && strings.Contains(s.Run, "GITHUB_ENV"),
					strings.HasPrefix(s.Uses, "azure/aks-set-context@"), strings.HasPrefix(s.Uses, "google-github-actions/get-gke-credentials@"):
					kubeconfig = i
				}
				if a, ok := ourAction(s.Uses); ok && a == "deploy" {
					deploy = i
				}
			}
			if login < 0 || deploy < 0 {
				continue // not a short-lived-credentials job (e.g. a kubeconfig secret past an environment gate)
			}
			assert.NotContains(t, j.Steps[deploy].With, "kubeconfig", "%s: job %s: the deploy reads $KUBECONFIG", f, id)
			found = true
			perm := j.Permissions
			if perm == nil {
				perm = w.Permissions
			}
			assert.Equal(t, "write", perm["id-token"], "%s: job %s needs id-token: write for GitHub's OIDC token", f, id)
			assert.True(t, login < kubeconfig && kubeconfig < deploy, "%s: job %s: login, then the kubeconfig, then the deploy", f, id)
			assert.NotEmpty(t, j.Environment, "%s: job %s: the role's trust policy can name the environment", f, id)
			assert.NotContains(t, string(b), "secrets.", "%s: short-lived credentials need no secret", f)
		}
	}
	assert.True(t, found, "examples/workflows has a deploy with short-lived cloud credentials (OIDC)")
}
