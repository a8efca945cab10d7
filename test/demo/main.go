// Command demo shows the whole product on a local cluster: it starts an
// empty control plane, applies only the admin's bootstrap (the namespace and
// the deployer's Role, examples/kubernetes/namespace.yaml and rbac.yaml),
// starts an erlmcp-like server, and runs the erlmcp-deploy CLI
// (bin/erlmcp-deploy, from `make build`) as the least-privilege deployer:
// the first deploy of the release examples/kubernetes/erlmcp (every object
// created), a new image, smoke, a slow-starting image, a crash-looping image
// that is caught and rolled back, a release whose dashboard image does not
// exist (the whole release restored), the release's history, and release
// notes from a sample CHANGELOG.
//
//	make demo   (= make build cluster-bins && go run ./test/demo)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/githubfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// step is one narrated CLI run.
type step struct {
	title   string
	args    []string
	wantErr bool // the step demonstrates a failure
	// env is added to the step's environment (a preview's GitHub event, the previewer's kubeconfig).
	env []string
	// after narrates what the step left (nil: nothing).
	after func()
}

type outcome struct {
	title  string
	took   time.Duration
	result string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := testcluster.RepoRoot()
	if err == nil {
		err = run(ctx, filepath.Join(root, "bin", "erlmcp-deploy"), os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

// run narrates the demo to out, running the CLI binary at cli.
func run(ctx context.Context, cli string, out io.Writer) error {
	root, err := testcluster.RepoRoot()
	if err != nil {
		return err
	}
	say := func(s string) { fmt.Fprintln(out, s) }
	if _, err := os.Stat(cli); err != nil {
		return fmt.Errorf("%s is missing: run make demo (it builds first)", cli)
	}
	say("erlmcp-deploy demo: a real Kubernetes control plane on this machine, pods simulated by kwok.")
	say("(The first run builds the control plane from Go modules: about 11 minutes on 2 cores, once.)")
	began := time.Now()
	c, err := testcluster.New(ctx, testcluster.Options{Log: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop cluster:", err)
		}
		fmt.Fprintln(out, "cluster stopped and cleaned up.")
	}()
	clusterTook := time.Since(began)

	// The cluster admin's part, once: the namespace and the deployer's Role. Everything
	// else — the release — is the deployer's, through the CLI.
	bootstrap, err := testcluster.BootstrapManifests(root)
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, bootstrap, ""); err != nil {
		return err
	}
	id, err := c.Deployer(ctx, "erlmcp")
	if err != nil {
		return err
	}
	say("the cluster admin applied the bootstrap (examples/kubernetes/namespace.yaml, rbac.yaml): namespace erlmcp and the least-privilege deployer Role the CLI runs as. Nothing else runs yet.")

	// A crashed erlmcp prints what a real Elixir release prints when runtime.exs needs an unset variable
	// (OTP 25 / Elixir 1.14 output from the boot corpus), so the crash loop below is named by its cause.
	crash, err := os.ReadFile(filepath.Join(root, "internal", "bootcause", "testdata", "corpus", "missing-env", "elixir-runtime-exs.log"))
	if err != nil {
		return err
	}
	if _, err := c.NamespaceLogs(ctx, "erlmcp", testcluster.ContainerLogs{Previous: string(crash)}); err != nil {
		return err
	}

	target := httptest.NewServer(erlmcpd.New(erlmcpd.Options{Status: erlmcpd.Healthy}))
	defer target.Close()
	say("an erlmcp-like service answers at " + target.URL + " (/health, /metrics, /mcp).")

	// GitHub is out of reach here: release-notes and preview talk to an in-process fake of its REST API.
	gh := githubfake.New("acme", "erlmcp")
	defer gh.Close()
	gh.AddPull(githubfake.Pull{Number: 7, HeadSHA: prHead(1), HeadRef: "faster-tools"})

	work, err := os.MkdirTemp("", "erlmcp-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	changelog := filepath.Join(work, "CHANGELOG.md")
	if err := os.WriteFile(changelog, []byte(sampleChangelog), 0o644); err != nil {
		return err
	}

	// Every deploy is a release deploy: the manifests of examples/kubernetes/erlmcp (the
	// path is relative: the CLI runs in the repository), with --image replacing the image
	// of erlmcp's container and init container. The manifests say 1.0.0.
	release := func(extra ...string) []string {
		return append([]string{"deploy", "--environment", "staging", "--manifests", releaseDir}, extra...)
	}
	// A pull request's preview: the identity of examples/kubernetes/rbac-preview.yaml, and
	// the pull_request events GitHub would send for pull request #7.
	previewer, err := c.PreviewDeployer(ctx, "erlmcp-previews")
	if err != nil {
		return err
	}
	event := func(action string, push int) []string {
		path := filepath.Join(work, fmt.Sprintf("event-%s-%d.json", action, push))
		payload := fmt.Sprintf(`{"action":%q,"number":7,"repository":{"full_name":"acme/erlmcp"},"pull_request":{"number":7,"title":"Faster tools",`+
			`"merged":%t,"user":{"login":"octocat"},"head":{"sha":%q,"ref":"faster-tools","repo":{"full_name":"acme/erlmcp"}},"base":{"ref":"main","repo":{"full_name":"acme/erlmcp"}}}}`,
			action, action == "closed", prHead(push))
		if err := os.WriteFile(path, []byte(payload), 0o644); err != nil {
			panic(err)
		}
		return []string{"KUBECONFIG=" + previewer.Kubeconfig, "GITHUB_REPOSITORY=acme/erlmcp", "GITHUB_API_URL=" + gh.URL,
			"GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + path}
	}
	preview := func(image string) []string {
		return []string{"preview", "--manifests", releaseDir, "--image", image, "--url-template", "https://pr-{number}.preview.example.com", "--github-token", "demo-token"}
	}
	comment := func() {
		if cs := gh.Comments(7); len(cs) > 0 {
			say(fmt.Sprintf("pull request #7 has %d comment from the action (edited in place); it reads:", len(cs)))
			for _, line := range strings.Split(strings.TrimSpace(cs[0].Body), "\n")[1:] {
				if line != "" && !strings.HasPrefix(line, "|---") && !strings.HasPrefix(line, "| |") {
					say("  > " + line)
				}
			}
		}
	}
	steps := []step{
		{title: "first deploy of the release (every object created)", args: release()},
		{title: "deploy 1.1.0", args: release("--image", "ghcr.io/acme/erlmcp:1.1.0")},
		{title: "smoke-test the service", args: []string{"smoke", "--environment", "staging", "--base-url", target.URL, "--mcp-expect-tools", "echo,add", "--report-dir", work}},
		{title: "deploy 1.2.0 (slow start: 3 s per pod)", args: release("--image", "ghcr.io/acme/erlmcp:1.2.0-slowstart-3s")},
		{title: "deploy a bad release (it crashes: DATABASE_URL is not set)", args: release("--image", "ghcr.io/acme/erlmcp:1.3.0-fault-crashloop"), wantErr: true},
		{title: "deploy a release whose dashboard image is missing", args: release("--image", "ghcr.io/acme/erlmcp:1.3.0",
			"--images", "ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:1.3.0-fault-imagepull"), wantErr: true},
		{title: "release history", args: []string{"rollback", "--environment", "staging", "--list"}},
		{title: "preview of pull request #7: opened (namespace erlmcp-pr-7, quota, the release, a GitHub deployment, one comment)",
			args: preview("ghcr.io/acme/erlmcp:pr-7-1"), env: event("opened", 1), after: comment},
		{title: "preview of pull request #7: a push with a bad image (the previous push keeps serving)",
			args: preview("ghcr.io/acme/erlmcp:pr-7-2-fault-imagepull"), env: event("synchronize", 2), wantErr: true, after: comment},
		{title: "preview of pull request #7: merged (namespace deleted, deployments inactive, comment edited)",
			args: preview("ghcr.io/acme/erlmcp:pr-7-2"), env: event("closed", 2), after: comment},
		{title: "release notes for v1.2.0 (dry run)", args: []string{"release-notes", "--tag", "v1.2.0", "--previous-tag", "v1.1.0", "--changelog", changelog,
			"--repository", "acme/erlmcp", "--api-url", gh.APIURL(), "--token", "demo-token", "--deployed-image", "ghcr.io/acme/erlmcp:1.2.0-slowstart-3s → staging", "--checksums=false", "--dry-run"}},
	}
	var results []outcome
	for i, s := range steps {
		fmt.Fprintf(out, "\n=== %d/%d  %s\n$ erlmcp-deploy %s\n", i+1, len(steps), s.title, strings.Join(s.args, " "))
		start := time.Now()
		cmd := exec.CommandContext(ctx, cli, s.args...)
		cmd.Dir = root
		cmd.Env = append(append(os.Environ(), "KUBECONFIG="+id.Kubeconfig, "RUNNER_TEMP="+work), s.env...)
		cmd.Stdout, cmd.Stderr = out, out
		err := cmd.Run()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var exit *exec.ExitError
		failed := errors.As(err, &exit)
		if err != nil && !failed {
			return err
		}
		res := "ok"
		switch {
		case failed && s.wantErr:
			res = fmt.Sprintf("failed as it should (exit %d): diagnosed and rolled back", exit.ExitCode())
		case failed:
			return fmt.Errorf("step %q failed (exit %d)", s.title, exit.ExitCode())
		case s.wantErr:
			return fmt.Errorf("step %q should have failed", s.title)
		}
		results = append(results, outcome{s.title, time.Since(start), res})
		if s.after != nil {
			s.after()
		}
	}

	fmt.Fprintf(out, "\n=== Summary (cluster started in %s)\n", clusterTook.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.title, r.took.Round(100*time.Millisecond), r.result)
	}
	tw.Flush()
	say("\nThe first deploy created the whole release from its manifests as the least-privilege deployer. " +
		"Each bad release was noticed from its first failing pod — the crash at its first crash, because the crashed instance's log names a cause no restart can clear — named by its cause (failure-cause: missing-env DATABASE_URL, image-not-found), explained (state, logs of the crashed instance, events), and the previous verified revision of the release was serving again, as a whole, within seconds — " +
		"where `kubectl rollout status` would wait for the progress deadline (10 minutes by default), and `kubectl rollout undo` would take back one Deployment, not the release. " +
		"Pull request #7 had its own running copy of the release, in a namespace of its own with a quota, updated on every push and named on the pull request in one comment, and gone when it merged.")
	return nil
}

// prHead is the head commit of pull request #7 after push n.
func prHead(n int) string { return fmt.Sprintf("%07x", 0xc0ffee0+n) + strings.Repeat("0", 33) }

// releaseDir is the release the demo deploys, relative to the repository root.
const releaseDir = "examples/kubernetes/erlmcp"

const sampleChangelog = `# Changelog

## [Unreleased]

## [1.2.0] - 2026-11-20
### Added
- MCP tools list is cached per session.
### Fixed
- /health reports the registry as degraded instead of crashing when it restarts.

## [1.1.0] - 2026-10-02
### Added
- Prometheus metrics for every tool call.

[1.2.0]: https://github.com/acme/erlmcp/compare/v1.1.0...v1.2.0
[1.1.0]: https://github.com/acme/erlmcp/releases/tag/v1.1.0
`
