package workflows_test

import (
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The reusable pipeline's job graph, read the way GitHub reads it: which job
// holds which step, which job waits for an environment's approval, which
// concurrency group it takes, and what its conditions decide.

const (
	pipelinePath = "../../.github/workflows/pipeline.yml"
	previewPath  = "../../.github/workflows/preview.yml"
)

// reusable are the workflows callers use (on: workflow_call); the checks that
// apply to any of them (a validate job first, secrets, callers) run on each.
var reusable = []string{pipelinePath, previewPath}

type wfStep struct {
	ID              string            `yaml:"id"`
	Name            string            `yaml:"name"`
	Uses            string            `yaml:"uses"`
	If              string            `yaml:"if"`
	With            map[string]string `yaml:"with"`
	Run             string            `yaml:"run"`
	Env             map[string]string `yaml:"env"`
	ContinueOnError bool              `yaml:"continue-on-error"`
}

type wfJob struct {
	ID          string
	Needs       yaml.Node         `yaml:"needs"`
	If          string            `yaml:"if"`
	Environment yaml.Node         `yaml:"environment"`
	Concurrency yaml.Node         `yaml:"concurrency"`
	Outputs     map[string]string `yaml:"outputs"`
	Steps       []wfStep          `yaml:"steps"`
	Uses        string            `yaml:"uses"`
}

type wfFile struct {
	On struct {
		WorkflowCall struct {
			Inputs map[string]struct {
				Type     string `yaml:"type"`
				Required bool   `yaml:"required"`
				Default  any    `yaml:"default"`
			} `yaml:"inputs"`
			Secrets map[string]struct {
				Required bool `yaml:"required"`
			} `yaml:"secrets"`
			Outputs map[string]struct {
				Value string `yaml:"value"`
			} `yaml:"outputs"`
		} `yaml:"workflow_call"`
	} `yaml:"on"`
	Concurrency yaml.Node         `yaml:"concurrency"`
	Jobs        map[string]*wfJob `yaml:"jobs"`
}

func loadWorkflow(t *testing.T, path string) *wfFile {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var wf wfFile
	require.NoError(t, yaml.Unmarshal(b, &wf), path)
	for id, j := range wf.Jobs {
		j.ID = id
	}
	return &wf
}

// environmentName is the environment a job waits for ("" for none).
func (j *wfJob) environmentName() string {
	switch j.Environment.Kind {
	case yaml.ScalarNode:
		return j.Environment.Value
	case yaml.MappingNode:
		var e struct{ Name string }
		_ = j.Environment.Decode(&e)
		return e.Name
	}
	return ""
}

// concurrency is the job's group and cancel-in-progress (as written).
func (j *wfJob) concurrency() (group, cancel string) {
	switch j.Concurrency.Kind {
	case yaml.ScalarNode:
		return j.Concurrency.Value, ""
	case yaml.MappingNode:
		var c struct {
			Group  string    `yaml:"group"`
			Cancel yaml.Node `yaml:"cancel-in-progress"`
		}
		_ = j.Concurrency.Decode(&c)
		return c.Group, c.Cancel.Value
	}
	return "", ""
}

func (j *wfJob) needs() []string {
	switch j.Needs.Kind {
	case yaml.ScalarNode:
		return []string{j.Needs.Value}
	case yaml.SequenceNode:
		var out []string
		_ = j.Needs.Decode(&out)
		return out
	}
	return nil
}

// stepIndex is the index of the first step using our action id for env, or -1.
func (j *wfJob) stepIndex(action, env string) int {
	for i, s := range j.Steps {
		if id, ok := ourAction(s.Uses); ok && id == action && s.With["environment"] == env {
			return i
		}
	}
	return -1
}

func (j *wfJob) step(id string) (wfStep, bool) {
	for _, s := range j.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return wfStep{}, false
}

// envJobs maps each environment to the jobs holding one of our deploy, smoke
// or rollback steps for it.
func envJobs(wf *wfFile) map[string][]string {
	out := map[string][]string{}
	for id, j := range wf.Jobs {
		for _, s := range j.Steps {
			action, ok := ourAction(s.Uses)
			if !ok || (action != "deploy" && action != "smoke" && action != "rollback") {
				continue
			}
			env := s.With["environment"]
			if !slices.Contains(out[env], id) {
				out[env] = append(out[env], id)
			}
		}
	}
	return out
}

// TestOneJobPerEnvironment: deploy, smoke and rollback of an environment run
// in one job, under one approval of that environment and one concurrency
// group, so no other run can interleave between them (smoke-test another
// run's rollout, undo another run's release); production's group never
// cancels a running job.
func TestOneJobPerEnvironment(t *testing.T) {
	wf := loadWorkflow(t, pipelinePath)
	byEnv := envJobs(wf)
	require.ElementsMatch(t, []string{"staging", "production"}, keys(byEnv), "every deploy, smoke and rollback step names its environment")
	groups := map[string]string{}
	for _, env := range []string{"staging", "production"} {
		require.Len(t, byEnv[env], 1, "%s: deploy, smoke and rollback in ONE job, not %v", env, byEnv[env])
		j := wf.Jobs[byEnv[env][0]]
		deploy, smoke, rollback := j.stepIndex("deploy", env), j.stepIndex("smoke", env), j.stepIndex("rollback", env)
		require.GreaterOrEqual(t, deploy, 0, "%s: job %s deploys", env, j.ID)
		assert.Greater(t, smoke, deploy, "%s: job %s smoke-tests after the deploy", env, j.ID)
		assert.Greater(t, rollback, smoke, "%s: job %s can roll back after the smoke test", env, j.ID)
		assert.Equal(t, env, j.environmentName(), "%s: job %s passes the %s gate once, before its deploy", env, j.ID, env)
		for id, other := range wf.Jobs {
			if id != j.ID {
				assert.NotEqual(t, env, other.environmentName(), "job %s would wait for a second %s approval", id, env)
			}
		}

		group, cancel := j.concurrency()
		require.NotEmpty(t, group, "%s: job %s has a concurrency group", env, j.ID)
		// The group must be the same for two runs (no run id, sha or ref in it), or it serializes nothing.
		a := evalTemplate(t, group, runCtx("1001", "aaaa", "refs/tags/v1.0.0"))
		b := evalTemplate(t, group, runCtx("1002", "bbbb", "refs/heads/main"))
		assert.Equal(t, a, b, "%s: two runs of the pipeline must share the group %q", env, group)
		groups[env] = a
		if env == "production" {
			assert.Contains(t, []string{"", "false"}, cancel,
				"production: cancel-in-progress must be false: a newer run must never cancel a deploy, smoke test or rollback mid-way")
		}
	}
	assert.NotEqual(t, groups["staging"], groups["production"], "staging and production do not wait for each other")
	if wf.Concurrency.Kind == yaml.MappingNode {
		var c struct {
			Cancel string `yaml:"cancel-in-progress"`
		}
		require.NoError(t, wf.Concurrency.Decode(&c))
		assert.NotEqual(t, "true", c.Cancel, "a workflow-level group that cancels would cancel production mid-way")
	}
}

// TestProductionRollbackNeedsNoApproval: GitHub makes every job that names an
// environment wait for its protection rules, so the automatic rollback must
// run in the job that already passed the production gate for its deploy, or
// in a job that names no environment.
func TestProductionRollbackNeedsNoApproval(t *testing.T) {
	wf := loadWorkflow(t, pipelinePath)
	found := 0
	for _, j := range wf.Jobs {
		for i, s := range j.Steps {
			if id, ok := ourAction(s.Uses); !ok || id != "rollback" {
				continue
			}
			found++
			env := s.With["environment"]
			if gate := j.environmentName(); gate != "" {
				deploy := j.stepIndex("deploy", env)
				assert.True(t, deploy >= 0 && deploy < i,
					"job %s waits for the %s approval; its rollback step must follow its own deploy in that job, never wait for a human of its own", j.ID, gate)
				assert.Equal(t, env, gate, "job %s: the rollback of %s runs under the %s gate", j.ID, env, gate)
			}
			if env == "production" {
				assert.Equal(t, "production", s.With["confirm"], "the production rollback confirms its environment")
			}
		}
	}
	assert.GreaterOrEqual(t, found, 1, "the pipeline rolls production back when its smoke test fails")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// runCtx is the expression context of one run with typical inputs.
func runCtx(runID, sha, ref string) *exprCtx {
	return &exprCtx{status: "success", vars: map[string]any{
		"github": map[string]any{"repository": "acme/service", "run_id": runID, "sha": sha, "ref": ref,
			"workflow": "release", "event_name": "push"},
		"inputs": map[string]any{"namespace": "", "deployment": "", "target": "production"},
	}}
}
