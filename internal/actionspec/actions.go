package actionspec

// Inputs shared by every action that talks to a cluster.
func clusterInputs() []Input {
	return append([]Input{
		{Name: "namespace", Kind: String, Default: "erlmcp", Description: "Namespace of the Deployment."},
		{Name: "deployment", Kind: String, Default: "erlmcp", Description: "Name of the Deployment."},
		{Name: "container", Kind: String, Description: "Container whose image is managed. Default: the only container of the pod template; required when there are several."},
	}, credentialInputs()...)
}

// credentialInputs say how to reach the API server (the connect package reads them).
func credentialInputs() []Input {
	return []Input{
		{Name: "kubeconfig", Kind: String, Secret: true, Kubeconfig: true, Description: "Kubeconfig file content (not a path). Default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account. Tokens and keys in it are masked."},
		{Name: "context", Kind: String, Description: "Kubeconfig context to use. Default: the kubeconfig's current context."},
	}
}

// slackInputs notify Slack: one message per pipeline run, updated through its stages.
func slackInputs() []Input {
	return []Input{
		{Name: "slack-token", Kind: String, Secret: true, Description: "Slack bot token (`chat:write`): posts one message, then updates it in place (with `slack-channel`)."},
		{Name: "slack-channel", Kind: String, Description: "Slack channel ID (C0123...) for the bot token."},
		{Name: "slack-thread", Kind: String, Description: "`ts` of the message to update (the `slack-ts` output of an earlier stage)."},
		{Name: "slack-webhook", Kind: String, Secret: true, Description: "Slack incoming-webhook URL (posts only; cannot update)."},
		{Name: "slack-mention", Kind: String, Description: "Who to mention on a production failure or rollback, e.g. `<!subteam^S0123>`."},
	}
}

func configInput() Input {
	return Input{Name: "config", Kind: String, DefaultDoc: ".github/erlmcp-deploy.yml when present",
		Description: "YAML file with an `environments:` map whose entries give defaults for any input (namespace, deployment, container, context, health-url, timeout, ...). Explicit inputs win."}
}

func slackOutput() Output {
	return Output{Name: "slack-ts", Structural: true, Description: "`ts` of the Slack message (pass it as `slack-thread` to later stages)."}
}

// Deploy is the contract of actions/deploy.
func Deploy() Action {
	in := []Input{
		{Name: "environment", Kind: String, Required: true, Description: "Environment being deployed (e.g. staging, production); selects the entry of the config file and labels logs, summary and lock."},
		{Name: "image", Kind: String, Description: "Image to deploy: `repo:tag` or `repo@sha256:<digest>`. Required unless `manifests` is set; with `manifests`, it replaces the image of every container and init container of that repository (and must match at least one)."},
	}
	in = append(in, clusterInputs()...)
	in = append(in,
		Input{Name: "manifests", Kind: List, Commas: true, Description: "Deploy a whole release instead of one image: files, directories (every `*.yaml`, `*.yml`, `*.json` in them) or kustomization directories (rendered in-process), one per line or comma-separated. Every object is validated by a server-side dry run, then applied server-side in dependency order; the Deployment need not exist. The whole set is verified, and a failure restores the previous verified release as a whole."},
		Input{Name: "images", Kind: List, Description: "With `manifests`: `repository=reference`, one per line (e.g. `ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:2.1.0`); each replaces the image of every container and init container of that repository. Images that match no entry are left as the manifests (or a kustomization's `images:`) say."},
		Input{Name: "release", Kind: String, DefaultDoc: "the `deployment` input", Description: "With `manifests`: the release's name. Its history (objects and applied manifests per revision) is kept in Secrets `erlmcp-deploy.release.<release>.v<n>` in `namespace`."},
		Input{Name: "prune", Kind: Bool, Default: "true", Description: "With `manifests`: once the new release verified, delete objects of the previous release that are no longer in the manifests (never Namespaces or CRDs, never objects without the release's label)."},
		Input{Name: "force-conflicts", Kind: Bool, Default: "false", Description: "With `manifests`: take over fields that another field manager (kubectl, a controller, Argo CD) set to other values; without it such a conflict stops the deploy before anything changes."},
	)
	in = append(in,
		Input{Name: "timeout", Kind: Duration, Default: "10m", Description: "Longest time to wait for the rollout (and the health URL) before calling it failed."},
		Input{Name: "fail-fast", Kind: Bool, Default: "true", Description: "Fail as soon as a new pod is doomed (missing image, crash loop, config error, OOM kills, unschedulable with no scale-up, ...) instead of waiting for the deadline; transient faults are tolerated (see the next three inputs)."},
		Input{Name: "rollback-on-failure", Kind: Bool, Default: "true", Description: "When the rollout fails, roll back to the revision that was serving complete and Available when the deploy started (else the last verified one)."},
	)
	in = append(in, verdictInputs()...)
	in = append(in, strategyInputs()...)
	in = append(in,
		Input{Name: "health-url", Kind: String, Description: "URL that must answer 2xx to a GET after the rollout (and after an automatic rollback); retried within the timeout."},
		Input{Name: "resolve-digest", Kind: Bool, Default: "false", Description: "Resolve the tag to a digest in the registry and deploy `repo@sha256:...`."},
		Input{Name: "registry-username", Kind: String, Description: "User name for `resolve-digest` on a private registry (with `registry-password`); for ghcr.io: the workflow actor (`github.actor`)."},
		Input{Name: "registry-password", Kind: String, Secret: true, Description: "Password or token for `resolve-digest` on a private registry; for ghcr.io: the job's `GITHUB_TOKEN` secret with `permissions: packages: read`. Default: the runner's Docker credentials (~/.docker/config.json)."},
		Input{Name: "dry-run", Kind: Bool, Default: "false", Description: "Run every check and send the change as a server-side dry run; nothing changes. With `manifests`, the log and the job summary list what would be created, changed (field by field) and pruned."},
		Input{Name: "force", Kind: Bool, Default: "false", Description: "Take over the deploy lock held by another run."},
		Input{Name: "update-init-containers", Kind: Bool, Default: "true", Description: "Also give the new image to the init containers that run the same image repository as the updated container (e.g. a migration step shipped in the app's image)."},
		Input{Name: "change-cause", Kind: String, DefaultDoc: "image, actor and run URL", Description: "Text recorded in `kubernetes.io/change-cause` and shown by `rollout history`."},
		configInput(),
	)
	in = append(in, clustersInputs(true)...)
	in = append(in, slackInputs()...)
	return Action{
		ID: "deploy", Name: "erlmcp deploy", Icon: "upload-cloud", Color: "blue",
		Description: "Roll a new image out to a Kubernetes Deployment, fail fast on doomed pods with diagnostics, and roll back automatically.",
		Inputs:      in,
		Outputs: []Output{
			{Name: "status", Description: "`succeeded`, `rolled-back`, `failed`, `aborted` (a canary stopped before promotion; stable untouched) or `paused` (a canary waits for `canary-decision`).", Structural: true},
			{Name: "revision", Description: "Deployment revision serving when the action ended.", Structural: true},
			{Name: "previous-revision", Description: "Revision that was serving before the deploy.", Structural: true},
			{Name: "image", Description: "Image reference that was deployed."},
			{Name: "digest", Description: "Image digest (`sha256:...`) when known."},
			{Name: "rolled-back", Description: "`true` when the action rolled back.", Structural: true},
			{Name: "failure-reason", Description: "Why the rollout failed (empty on success)."},
			{Name: "failure-cause", Description: "Why the run failed, as one stable word (empty on success): `image-not-found`, `image-unauthorized`, `image-rate-limited`, `config-missing`, `quota`, `unschedulable`, `oom`, `probe-failed`, `container-config`, `admission`; for a container that exits, what its crashed instance's log names: `port-in-use`, `missing-env`, `dns`, `dependency-unreachable`, `config-syntax`, `node-name`, `undef`, `permission`, `start-crash`, `crash-unknown`; else `health-check`, `analysis`, `canary-checks`, `timeout`, `template-changed`, `api-unavailable`, `cancelled`, `forbidden`, `locked`, `preflight` or `error`. With `contexts`: each context's distinct causes, comma-separated (each context's own is in `clusters`). The summary's first line and the Slack message name the cause, the object to fix and the evidence."},
			{Name: "duration-seconds", Description: "Wall time of the deploy in seconds.", Structural: true},
			{Name: "backup", Description: "Path of the file holding the pod template that was serving before the deploy."},
			{Name: "release", Description: "With `manifests`: the release's name (its revision is in `revision`)."},
			{Name: "canary-share", Description: "With `strategy: canary`: the largest share of pods (0..1) that ran the new image before promotion or abort.", Structural: true},
			clustersOutput(),
			{Name: "objects", Description: "With `manifests`: JSON array of the release's objects: name, action (created, configured, unchanged, pruned; not pruned (prune waits for a verified release; the state says why); deleted (created by a failed apply, deleted again); or create, configure, prune in a dry run), state."},
			slackOutput(),
		},
	}
}

// Rollback is the contract of actions/rollback.
func Rollback() Action {
	in := []Input{
		{Name: "environment", Kind: String, Required: true, Description: "Environment to roll back; selects the entry of the config file."},
	}
	in = append(in, clusterInputs()...)
	in = append(in,
		Input{Name: "release", Kind: String, DefaultDoc: "the `deployment` input when the namespace holds its release history", Description: "Roll back a manifest release (deployed with `manifests`) as a whole: the target revision's recorded manifests are re-applied, the objects it does not hold are deleted (only those carrying the release's labels), and the whole set is verified; the restore is recorded as a new revision. Release mode is chosen by this input, or when `namespace` holds the release history (Secrets `erlmcp-deploy.release.<name>.v<n>`) of the `deployment` name."},
		Input{Name: "to", Kind: String, Default: "previous", Description: "Target: `previous`, `last-successful`, a revision number, or an image reference (not for a release). For a release, `previous` is the newest once-verified revision before the one serving, `last-successful` the one serving when the newest revision failed or never finished (else `previous`), and a number a release revision. `cleanup` only removes what an unfinished canary or blue-green left (the pipeline's `if: always()` step). Before any rollback, an unfinished canary is deleted and an unfinished blue-green that had switched is switched back to the old pods — which is the rollback then."},
		Input{Name: "list", Kind: Bool, Default: "false", Description: "Only print the revision history (of the release, in release mode)."},
		Input{Name: "confirm", Kind: String, Description: "Required for production: must equal the environment name, so a mistyped environment never rolls production back."},
		Input{Name: "timeout", Kind: Duration, Default: "5m", Description: "Longest time to wait for the rollback (and the health URL)."},
	)
	in = append(in, verdictInputs()...)
	in = append(in,
		Input{Name: "health-url", Kind: String, Description: "URL that must answer 2xx to a GET after the rollback; retried within the timeout."},
		Input{Name: "dry-run", Kind: Bool, Default: "false", Description: "Resolve the target and send the change as a server-side dry run; nothing changes. For a release: list the objects that would be re-applied, created and deleted."},
		configInput(),
	)
	in = append(in, clustersInputs(false)...)
	in = append(in, slackInputs()...)
	return Action{
		ID: "rollback", Name: "erlmcp rollback", Icon: "rotate-ccw", Color: "orange",
		Description: "Show a Deployment's or a manifest release's revision history and roll back to the previous, last successful, a numbered revision or an image.",
		Inputs:      in,
		Outputs: []Output{
			{Name: "status", Description: "`succeeded`, `unchanged`, `listed` or `failed`.", Structural: true},
			{Name: "revision", Description: "Revision serving when the action ended (after a release rollback: the new revision that records the restore).", Structural: true},
			{Name: "from-revision", Description: "Revision that was serving before.", Structural: true},
			{Name: "image", Description: "Image(s) now serving."},
			{Name: "failure-cause", Description: "Why the run failed, as one stable word (empty on success): `image-not-found`, `image-unauthorized`, `image-rate-limited`, `config-missing`, `quota`, `unschedulable`, `oom`, `probe-failed`, `container-config`, `admission`; for a container that exits, what its crashed instance's log names: `port-in-use`, `missing-env`, `dns`, `dependency-unreachable`, `config-syntax`, `node-name`, `undef`, `permission`, `start-crash`, `crash-unknown`; else `health-check`, `analysis`, `canary-checks`, `timeout`, `template-changed`, `api-unavailable`, `cancelled`, `forbidden`, `locked`, `preflight` or `error`. With `contexts`: each context's distinct causes, comma-separated (each context's own is in `clusters`). The summary's first line and the Slack message name the cause, the object to fix and the evidence."},
			clustersOutput(),
			{Name: "history", Description: "JSON array of revisions: revision, images, change-cause, created, current, successful; for a release: revision, status, images, cause, time, objects (count), rolledBackFrom, reason."},
			slackOutput(),
		},
	}
}

// Smoke is the contract of actions/smoke.
func Smoke() Action {
	return Action{
		ID: "smoke", Name: "erlmcp smoke", Icon: "activity", Color: "green",
		Description: "Smoke-test an erlmcp service: health JSON, Prometheus metrics, MCP handshake, declarative checks and a load gate.",
		Inputs: append(append(append([]Input{
			{Name: "base-url", Kind: String, Description: "Base URL of the service, e.g. `https://erlmcp.staging.example.com`. Required unless `port-forward` is set; with it, requests keep this URL (Host header, TLS name, path) but connect through the forward."},
			{Name: "port-forward", Kind: String, Description: "Reach the service through the Kubernetes API server, as `kubectl port-forward` does, when the runner cannot reach it directly (private clusters): `svc/<name>:<port>`, `deployment/<name>:<port>` or `pod/<name>:<port>` (port number or name). A Ready pod's port is forwarded to 127.0.0.1:<free port>, which every check uses (`http://127.0.0.1:<port>` unless `base-url` is set). Needs the cluster inputs below and the Role of `examples/kubernetes/rbac.yaml`."},
			{Name: "namespace", Kind: String, Default: "erlmcp", Description: "Namespace of the `port-forward` target."},
		}, credentialInputs()...), []Input{
			{Name: "environment", Kind: String, Description: "Environment name for logs, summary and the config file."},
			{Name: "suite", Kind: Enum, Default: "erlmcp", Values: []string{"erlmcp", "none"}, Description: "Built-in checks to run; `none` runs only the checks file."},
			{Name: "checks-file", Kind: String, Description: "YAML file of declarative HTTP checks (Hurl-like)."},
			{Name: "mcp-path", Kind: String, Default: "/mcp", KeepEmpty: true, Description: "Path (or absolute URL) of the MCP Streamable HTTP endpoint; `''` (empty) skips the MCP check."},
			{Name: "mcp-expect-tools", Kind: List, Commas: true, Description: "Tools that tools/list must return (one per line or comma-separated)."},
			{Name: "dashboard-url", Kind: String, Description: "Dashboard URL that must answer 200."},
			{Name: "max-response-time", Kind: Duration, Default: "1s", Description: "Longest acceptable time for any single request."},
			{Name: "wait", Kind: Duration, Default: "60s", Description: "Total time to wait, with backoff, until the service answers its health check."},
			{Name: "fail-on-degraded", Kind: Bool, Default: "false", Description: "Fail (not just warn) when /health reports `degraded`."},
			{Name: "headers", Kind: List, Secret: true, Description: "Extra request headers, one `Name: value` per line; treated as secret."},
			{Name: "insecure-skip-tls-verify", Kind: Bool, Default: "false", Description: "Skip TLS certificate verification (prints a warning)."},
			{Name: "ca-file", Kind: String, Description: "PEM file of CA certificates to trust."},
			{Name: "load-duration", Kind: Duration, Default: "0", Description: "Run the load gate for this long; `0` disables it."},
			{Name: "load-concurrency", Kind: Int, Default: "10", Description: "Concurrent workers of the closed-loop load gate."},
			{Name: "load-rate", Kind: Float, Description: "Requests per second; when set, the load gate runs at a constant rate and measures from the intended send time."},
			{Name: "load-p50", Kind: Duration, Description: "Largest acceptable median latency under load."},
			{Name: "load-p95", Kind: Duration, Description: "Largest acceptable 95th percentile latency under load."},
			{Name: "load-p99", Kind: Duration, Description: "Largest acceptable 99th percentile latency under load."},
			{Name: "load-min-rps", Kind: Float, Description: "Smallest acceptable throughput in requests per second."},
			{Name: "load-max-error-rate", Kind: Float, Description: "Largest acceptable error rate (0..1)."},
			{Name: "report-dir", Kind: String, DefaultDoc: "$RUNNER_TEMP/erlmcp-smoke", Description: "Directory for the JSON and JUnit reports."},
			configInput(),
		}...), slackInputs()...),
		Outputs: []Output{
			{Name: "passed", Description: "Number of checks that passed.", Structural: true},
			{Name: "total", Description: "Number of checks run.", Structural: true},
			{Name: "failed", Description: "Number of checks that failed.", Structural: true},
			{Name: "report", Description: "Path of the JSON report."},
			{Name: "junit", Description: "Path of the JUnit XML report."},
			{Name: "p50-ms", Description: "Median latency under load, in milliseconds.", Structural: true},
			{Name: "p95-ms", Description: "95th percentile latency under load, in milliseconds.", Structural: true},
			{Name: "p99-ms", Description: "99th percentile latency under load, in milliseconds.", Structural: true},
			{Name: "rps", Description: "Throughput under load, in requests per second.", Structural: true},
			{Name: "error-rate", Description: "Error rate under load (0..1).", Structural: true},
			slackOutput(),
		},
	}
}

// ReleaseNotes is the contract of actions/release-notes.
func ReleaseNotes() Action {
	return Action{
		ID: "release-notes", Name: "erlmcp release notes", Icon: "tag", Color: "purple",
		Description: "Create or update a GitHub release from the CHANGELOG section (or generated notes), with verified assets and checksums.",
		Inputs: []Input{
			{Name: "tag", Kind: String, DefaultDoc: "the tag of GITHUB_REF", Description: "Tag to release."},
			{Name: "previous-tag", Kind: String, DefaultDoc: "nearest lower semver tag", Description: "Tag the notes start from; stable releases skip prerelease tags."},
			{Name: "tag-prefix", Kind: String, Description: "Only consider tags with this prefix (monorepos)."},
			{Name: "changelog", Kind: String, Default: "CHANGELOG.md", Description: "Keep a Changelog file to take the release's section from."},
			{Name: "notes-source", Kind: Enum, Default: "auto", Values: []string{"auto", "changelog", "github", "commits"}, Description: "Where notes come from; `auto` = changelog section, else GitHub generated notes, else commits grouped by Conventional Commit type."},
			{Name: "files", Kind: List, Description: "Globs of files to attach, one per line."},
			{Name: "fail-on-unmatched-files", Kind: Bool, Default: "true", Description: "Fail when a glob matches no file."},
			{Name: "checksums", Kind: Bool, Default: "true", Description: "Attach a `SHA256SUMS` asset."},
			{Name: "draft", Kind: Bool, Default: "false", Description: "Keep the release a draft."},
			{Name: "prerelease", Kind: Enum, Default: "auto", Values: []string{"auto", "true", "false"}, Description: "Mark as prerelease; `auto` follows the tag's semver."},
			{Name: "make-latest", Kind: Enum, Default: "true", Values: []string{"true", "false", "legacy"}, Description: "Whether the release becomes the repository's latest."},
			{Name: "mode", Kind: Enum, Default: "replace", Values: []string{"replace", "append", "keep"}, Description: "What to do with the body of an existing release."},
			{Name: "deployed-image", Kind: String, Description: "Image digest and environments to add to the notes."},
			{Name: "token", Kind: String, Secret: true, ActionDefault: "${{ github.token }}", Description: "GitHub token with `contents: write`."},
			{Name: "repository", Kind: String, ActionDefault: "${{ github.repository }}", Description: "`owner/name` of the repository."},
			{Name: "api-url", Kind: String, ActionDefault: "${{ github.api_url }}", Description: "GitHub REST API URL (for GitHub Enterprise Server)."},
			{Name: "dry-run", Kind: Bool, Default: "false", Description: "Resolve everything and print the notes; no write call to GitHub."},
		},
		Outputs: []Output{
			{Name: "release-id", Description: "ID of the release.", Structural: true},
			{Name: "url", Description: "HTML URL of the release."},
			{Name: "upload-url", Description: "Upload URL of the release."},
			{Name: "tag", Description: "Tag released."},
			{Name: "previous-tag", Description: "Tag the notes start from."},
			{Name: "notes-file", Description: "Path of a file holding the notes."},
		},
	}
}
