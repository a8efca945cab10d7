package workflows_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSmokeRollbackTakesOnlyTheChangedContexts runs the step that reads the
// deploy's clusters output: only contexts whose revision changed (and whose
// deploy succeeded) are rolled back after a smoke failure; one the run did
// not change, or one its own deploy already rolled back, is left alone.
func TestSmokeRollbackTakesOnlyTheChangedContexts(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatalf("jq is on every GitHub-hosted runner and the step needs it: %v", err)
	}
	wf := loadWorkflow(t, pipelinePath)
	clusters := `[{"context":"canary-eu","wave":1,"status":"succeeded","revision":"5","previous-revision":"4"},` +
		`{"context":"prod-eu","wave":2,"status":"succeeded","revision":"7","previous-revision":"7"},` +
		`{"context":"prod-us","wave":2,"status":"succeeded","revision":"3","previous-revision":"2"},` +
		`{"context":"prod-ap","wave":2,"status":"rolled-back","revision":"9","previous-revision":"7"}]`
	for env, jobs := range envJobs(wf) {
		j := wf.Jobs[jobs[0]]
		s, ok := j.step("changed")
		require.True(t, ok, "%s: a step with id changed", env)
		dir := t.TempDir()
		script := filepath.Join(dir, "step.sh")
		require.NoError(t, os.WriteFile(script, []byte(s.Run), 0o644))
		out := filepath.Join(dir, "out")
		cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CLUSTERS=" + clusters, "GITHUB_OUTPUT=" + out}
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", env, b)
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, "contexts=canary-eu, prod-us\n", string(got), env)
		rb, ok := j.step("rollback")
		require.True(t, ok)
		assert.Equal(t, "${{ steps.changed.outputs.contexts }}", rb.With["contexts"], "%s: the rollback takes those contexts", env)
	}
}
