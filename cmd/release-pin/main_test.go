package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestPinInPlace(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pipeline.yml")
	require.NoError(t, os.WriteFile(f, []byte("jobs:\n  x:\n    steps:\n      - uses: org/erlmcp-deploy/actions/deploy@v1\n"), 0o644))
	var stdout, stderr bytes.Buffer
	code := run([]string{"pin", "-from", "org/erlmcp-deploy,acme/copy", "-to", "acme/copy", "-sha", sha, "-version", "v1.2.3", f}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	assert.Equal(t, "jobs:\n  x:\n    steps:\n      - uses: acme/copy/actions/deploy@"+sha+" # v1.2.3\n", string(b))
	assert.Contains(t, stderr.String(), "1 reference(s) pinned")

	// Nothing left to pin from org/erlmcp-deploy: a release must not silently ship an unpinned pipeline.
	stderr.Reset()
	code = run([]string{"pin", "-from", "org/erlmcp-deploy", "-to", "acme/copy", "-sha", sha, "-version", "v1.2.3", f}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "::error::release-pin pin: ")
	assert.Contains(t, stderr.String(), "has no uses: of org/erlmcp-deploy")
}

func TestFloatingPrintsTheTagsToMove(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "c"},
		{"tag", "v1.3.0"}, {"tag", "v1"}, {"tag", "v1.3"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"floating", "-C", dir, "-version", "v1.2.7"}, &stdout, &stderr), stderr.String())
	assert.Equal(t, "v1.2\n", stdout.String(), "v1 stays on v1.3.0")
	assert.Contains(t, stderr.String(), "::warning::v1 stays at v1.3.0: v1.2.7 is older, and a floating tag never moves backwards")
	assert.Contains(t, stderr.String(), "::notice::v1.2 does not exist yet")

	stdout.Reset()
	require.Equal(t, 0, run([]string{"floating", "-C", dir, "-version", "v1.4.0"}, &stdout, &stderr))
	assert.Equal(t, "v1\nv1.4\n", stdout.String())

	stdout.Reset()
	require.Equal(t, 0, run([]string{"latest", "-C", dir, "-version", "v1.2.7"}, &stdout, &stderr))
	assert.Equal(t, "false\n", stdout.String())

	assert.Equal(t, 1, run([]string{"floating", "-C", dir, "-version", "1.4"}, &stdout, &stderr))
	assert.Equal(t, 2, run([]string{"nope"}, &stdout, &stderr))
}
