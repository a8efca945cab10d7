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

// TestPipelineSecretsCanBeEnvironmentSecrets: the pipeline's secrets have
// names a repository or environment secret can have, none is required (an
// environment secret is invisible when the run starts), and each environment's
// kubeconfig is read only in that environment's job.
func TestPipelineSecretsCanBeEnvironmentSecrets(t *testing.T) {
	wf := loadWorkflow(t, pipelinePath)
	declared := wf.On.WorkflowCall.Secrets
	require.NotEmpty(t, declared)
	for name, s := range declared {
		assert.Regexp(t, secretName, name, "secret %s cannot be a repository or environment secret", name)
		assert.False(t, strings.HasPrefix(strings.ToUpper(name), "GITHUB_"), name)
		assert.False(t, s.Required, "secret %s: a required secret fails `secrets: inherit` when it is an environment secret; check it in its job", name)
	}
	raw, err := os.ReadFile(pipelinePath)
	require.NoError(t, err)
	for _, m := range secretRef.FindAllStringSubmatch(string(raw), -1) {
		if m[1] == "GITHUB_TOKEN" {
			continue
		}
		assert.Contains(t, declared, m[1], "secrets.%s is used but not declared", m[1])
	}

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

// TestMissingKubeconfigStopsBeforeTheDeploy: each environment job checks its
// kubeconfig secret before its deploy (an empty one would make the deploy
// fall back to whatever credentials the runner has), and names the secret.
func TestMissingKubeconfigStopsBeforeTheDeploy(t *testing.T) {
	wf := loadWorkflow(t, pipelinePath)
	for env, jobs := range envJobs(wf) {
		j := wf.Jobs[jobs[0]]
		want := strings.ToUpper(env) + "_KUBECONFIG"
		deploy := j.stepIndex("deploy", env)
		check := -1
		for i, s := range j.Steps[:deploy] {
			for _, v := range s.Env {
				if strings.Contains(v, "secrets."+want) && s.Run != "" {
					check = i
				}
			}
		}
		require.GreaterOrEqual(t, check, 0, "%s: a step before the deploy checks %s", env, want)
		s := j.Steps[check]
		assert.Empty(t, s.If, "%s: the check always runs", env)
		for _, tc := range []struct {
			value string
			code  int
		}{{"", 1}, {"apiVersion: v1\nkind: Config\n", 0}} {
			dir := t.TempDir()
			script := filepath.Join(dir, "step.sh")
			require.NoError(t, os.WriteFile(script, []byte(s.Run), 0o644))
			cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range s.Env {
				if strings.Contains(v, "secrets."+want) {
					v = tc.value
				}
				cmd.Env = append(cmd.Env, k+"="+v)
			}
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
			assert.Equal(t, tc.code, code, "%s with %q: %s", env, tc.value, out.String())
			if tc.code != 0 {
				assert.Contains(t, out.String(), "::error title=Missing secret "+want+"::", env)
				assert.Contains(t, out.String(), "secrets: inherit", env)
			}
		}
	}
}

// TestCallersOfThePipeline: every caller (examples/workflows) passes only
// inputs and secrets the pipeline declares, every required input, and the
// examples show both ways to pass secrets.
func TestCallersOfThePipeline(t *testing.T) {
	wf := loadWorkflow(t, pipelinePath)
	files, err := filepath.Glob("../../examples/workflows/*.yml")
	require.NoError(t, err)
	ways := map[string]bool{}
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
			if !strings.HasPrefix(j.Uses, "org/erlmcp-deploy/.github/workflows/pipeline.yml@") {
				continue
			}
			for name := range j.With {
				assert.Contains(t, wf.On.WorkflowCall.Inputs, name, "%s: job %s: the pipeline has no input %s", f, id, name)
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
					assert.Contains(t, wf.On.WorkflowCall.Secrets, name, "%s: job %s: the pipeline has no secret %s", f, id, name)
					assert.Regexp(t, `^\$\{\{ secrets\.[A-Za-z_][A-Za-z0-9_]* \}\}$`, v, "%s: job %s: %s", f, id, name)
				}
				ways["mapped"] = true
			default:
				t.Errorf("%s: job %s passes no secrets to the pipeline", f, id)
			}
		}
	}
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
