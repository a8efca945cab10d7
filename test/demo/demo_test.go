package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemo runs the same script as make demo, with a freshly built CLI, and
// checks each step's verdict in its narration.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the local cluster (make test runs it)")
	}
	cli := filepath.Join(t.TempDir(), "erlmcp-deploy")
	out, err := exec.Command("go", "build", "-o", cli, "github.com/org/erlmcp-deploy/cmd/erlmcp-deploy").CombinedOutput()
	require.NoError(t, err, string(out))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var narration bytes.Buffer
	err = run(ctx, cli, &narration)
	text := narration.String()
	require.NoError(t, err, text)
	for _, want := range []string{
		"revision 2 is serving ghcr.io/acme/erlmcp:1.1.0",
		"status=succeeded",
		"revision 3 is serving ghcr.io/acme/erlmcp:1.2.0-slowstart-3s",
		"rollout of ghcr.io/acme/erlmcp:1.3.0-fault-crashloop failed",
		"logs of the previous instance",
		"status=rolled-back",
		"REVISION  IMAGES",
		"MCP tools list is cached per session.",
		"cluster stopped and cleaned up.",
	} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, regexp.MustCompile(`deploy a bad release \(crash loop\)\s+\S+\s+failed as it should \(exit 1\): diagnosed and rolled back`), text)
	t.Logf("demo narration:\n%s", text)
}
