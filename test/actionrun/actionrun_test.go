// Package actionrun runs the compiled action binaries the way the GitHub
// Actions runner does: INPUT_* variables, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY files, GITHUB_ACTIONS=true, and reads what they leave.
package actionrun_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// build compiles a main package of this module into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

type step struct {
	code                    int
	stdout, output, summary string
}

// runStep runs bin as a workflow step with the given inputs.
func runStep(t *testing.T, bin string, inputs map[string]string) step {
	t.Helper()
	dir := t.TempDir()
	outFile, sumFile := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outFile, sumFile} {
		require.NoError(t, os.WriteFile(f, nil, 0o644))
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "GITHUB_ACTIONS=true", "CI=true",
		"GITHUB_OUTPUT=" + outFile, "GITHUB_STEP_SUMMARY=" + sumFile, "RUNNER_TEMP=" + dir}
	for k, v := range inputs {
		cmd.Env = append(cmd.Env, ghaction.EnvName(k)+"="+v)
	}
	out, err := cmd.CombinedOutput()
	s := step{stdout: string(out)}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		s.code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	b, _ := os.ReadFile(outFile)
	s.output = string(b)
	b, _ = os.ReadFile(sumFile)
	s.summary = string(b)
	return s
}

func TestRuntimeAsACompiledStep(t *testing.T) {
	bin := build(t, t.TempDir(), "./test/actionrun/testdata/fixture")
	const token = "ghs_fixtureSECRET123"

	ok := runStep(t, bin, map[string]string{"environment": "staging", "token": token, "timeout": "90"})
	require.Equal(t, 0, ok.code, ok.stdout)
	assert.Contains(t, ok.stdout, "::add-mask::"+token)
	assert.Contains(t, ok.stdout, "::group::Deploy to staging\n")
	assert.Contains(t, ok.stdout, "authenticating with ***")
	assert.Contains(t, ok.output, "status<<ghadelimiter_erlmcp\nsucceeded\n")
	assert.Contains(t, ok.output, "timeout-seconds<<ghadelimiter_erlmcp\n1m30s\n")
	assert.Contains(t, ok.summary, "## Deployed to staging")
	assert.Contains(t, ok.summary, "| **token** | *** |")
	assertNoSecret(t, ok, token)

	failed := runStep(t, bin, map[string]string{"environment": "staging", "token": token, "fail": "true"})
	assert.Equal(t, ghaction.ExitFailed, failed.code)
	assert.Contains(t, failed.stdout, "::error::rollout failed while using ***")
	assert.Contains(t, failed.output, "status<<ghadelimiter_erlmcp\nfailed\n", "outputs are written on failure too")
	assertNoSecret(t, failed, token)

	bad := runStep(t, bin, map[string]string{"token": token, "timeout": "soon"})
	assert.Equal(t, ghaction.ExitBadInput, bad.code)
	assert.Contains(t, bad.stdout, "::error title=Invalid input environment::is required")
	assert.Contains(t, bad.stdout, `::error title=Invalid input timeout::"soon" is not a duration; accepted values:`)
	assert.Empty(t, bad.output, "no outputs after invalid input")
	assertNoSecret(t, bad, token)
}

// assertNoSecret: the only place a secret may appear is the ::add-mask:: command itself.
func assertNoSecret(t *testing.T, s step, secret string) {
	t.Helper()
	log := strings.ReplaceAll(s.stdout, "::add-mask::"+secret, "")
	assert.NotContains(t, log, secret, "log")
	assert.NotContains(t, s.output, secret, "outputs")
	assert.NotContains(t, s.summary, secret, "summary")
}

// TestActionBinariesRejectBadInput runs each real action binary with one bad
// input: an ::error naming it, exit code 2, nothing else done.
func TestActionBinariesRejectBadInput(t *testing.T) {
	dir := t.TempDir()
	const kubeToken = "kubeTOKENvalue0123456789"
	kubeconfig := "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: " + kubeToken + "\n"
	cases := []struct {
		action string
		inputs map[string]string
		want   string
	}{
		{"deploy", map[string]string{"environment": "staging", "image": "ghcr.io/acme/erlmcp:1.0.0", "kubeconfig": kubeconfig, "fail-fast": "sometimes"},
			`::error title=Invalid input fail-fast::"sometimes" is not a boolean; accepted values: true, false`},
		{"deploy", map[string]string{"image": "ghcr.io/acme/erlmcp:1.0.0"}, "::error title=Invalid input environment::is required"},
		{"rollback", map[string]string{"environment": "staging", "kubeconfig": kubeconfig, "timeout": "-1m"},
			`::error title=Invalid input timeout::"-1m" is negative`},
		{"smoke", map[string]string{"base-url": "http://127.0.0.1:1", "suite": "everything"},
			`::error title=Invalid input suite::"everything" is not accepted; accepted values: erlmcp, none`},
		{"release-notes", map[string]string{"mode": "overwrite", "token": "ghp_releaseTOKEN42"},
			`::error title=Invalid input mode::"overwrite" is not accepted; accepted values: replace, append, keep`},
	}
	bins := map[string]string{}
	for _, tc := range cases {
		if bins[tc.action] == "" {
			bins[tc.action] = build(t, dir, "./actions/"+tc.action)
		}
		s := runStep(t, bins[tc.action], tc.inputs)
		assert.Equal(t, ghaction.ExitBadInput, s.code, "%s: %s", tc.action, s.stdout)
		assert.Contains(t, s.stdout, tc.want, tc.action)
		assert.Empty(t, s.output, "%s sets no output after invalid input", tc.action)
		assertNoSecret(t, s, kubeToken)
		assertNoSecret(t, s, "ghp_releaseTOKEN42")
	}
}

// TestSecretsNeverLeakWhenTheClusterIsUnreachable runs deploy and rollback
// with a kubeconfig full of credentials pointing at a closed port, and a
// Slack token: the failure is reported, and no credential appears anywhere.
func TestSecretsNeverLeakWhenTheClusterIsUnreachable(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"token":       "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.sig",
		"client key":  "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t",
		"password":    "hunter2-but-longer",
		"exec env":    "AKIAEXAMPLEEXECENV",
		"slack token": "xoxb-1234-5678-slackSECRET",
	}
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
users:
- name: ci
  user:
    token: ` + secrets["token"] + `
- name: certs
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
    client-key-data: ` + secrets["client key"] + `
- name: basic
  user: {username: admin, password: ` + secrets["password"] + `}
- name: aws
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
      env: [{name: AWS_SECRET_ACCESS_KEY, value: ` + secrets["exec env"] + `}]
contexts:
- name: gone
  context: {cluster: gone, user: ci}
current-context: gone
`
	for _, action := range []string{"deploy", "rollback"} {
		bin := build(t, dir, "./actions/"+action)
		inputs := map[string]string{"environment": "staging", "kubeconfig": kubeconfig, "slack-token": secrets["slack token"], "slack-channel": "C01"}
		if action == "deploy" {
			inputs["image"] = "ghcr.io/acme/erlmcp:1.0.0"
		}
		s := runStep(t, bin, inputs)
		assert.Equal(t, ghaction.ExitFailed, s.code, "%s: %s", action, s.stdout)
		assert.Contains(t, s.stdout, "127.0.0.1:9", "%s names the cluster it could not reach", action)
		for what, secret := range secrets {
			log := strings.ReplaceAll(s.stdout, "::add-mask::"+secret, "")
			assert.NotContains(t, log, secret, "%s leaks the %s in its log", action, what)
			assert.NotContains(t, s.output, secret, "%s leaks the %s in its outputs", action, what)
			assert.NotContains(t, s.summary, secret, "%s leaks the %s in its summary", action, what)
		}
	}
}
