package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemo runs the same script as make demo, with a freshly built CLI, and
// checks each step's verdict in its narration: from an empty cluster (the
// admin's bootstrap only), the deployer creates the release, deploys new
// images, and two bad releases are caught and restored as a whole.
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
		"the cluster admin applied the bootstrap",
		// The first deploy creates the whole release, as the deployer identity.
		"release erlmcp has no history in namespace erlmcp: this is its first deploy",
		"created Deployment/erlmcp-dashboard",
		"revision 1 of release erlmcp is serving (10 objects verified",
		"revision 2 of release erlmcp is serving",
		"image=ghcr.io/acme/erlmcp-dashboard:1.0.0,ghcr.io/acme/erlmcp:1.1.0",
		"status=succeeded",
		"revision 3 of release erlmcp is serving",
		"revision 4 of release erlmcp failed: Deployment/erlmcp: ",
		"BootFailure: crashed 1 time(s) since the change", // at its first crash: the log names a cause no restart clears
		"failure-cause=missing-env",
		"cause: missing-env: the release needs env DATABASE_URL, which is not set",
		"logs of the previous instance",
		"status=rolled-back",
		"revision 3 of release erlmcp is serving again (recorded as revision 5)",
		"revision 6 of release erlmcp failed: Deployment/erlmcp-dashboard: ",
		"ErrImagePull",
		"revision 5 of release erlmcp is serving again (recorded as revision 7)",
		// rollback --list finds the release's history in the namespace: the release, not one Deployment.
		"revision history of release erlmcp/erlmcp",
		"REVISION  STATUS",
		"MCP tools list is cached per session.",
		"cluster stopped and cleaned up.",
	} {
		assert.Contains(t, text, want)
	}
	// The bad dashboard takes erlmcp, which was fine, back with it: the release is restored as a whole.
	if i := strings.Index(text, "Restore revision 5 of release erlmcp"); assert.GreaterOrEqual(t, i, 0, "the release was restored") {
		restore, _, _ := strings.Cut(text[i:], "serving again")
		assert.Contains(t, restore, "configured Deployment/erlmcp\n")
		assert.Contains(t, restore, "configured Deployment/erlmcp-dashboard\n")
	}
	for _, title := range []string{`deploy a bad release \(it crashes: DATABASE_URL is not set\)`, `deploy a release whose dashboard image is missing`} {
		assert.Regexp(t, regexp.MustCompile(title+`\s+\S+\s+failed as it should \(exit 1\): diagnosed and rolled back`), text)
	}
	t.Logf("demo narration:\n%s", text)
}
