package actionspec

// Preview is the contract of the preview action: one running copy of the
// release per pull request.
func Preview() Action {
	in := []Input{
		{Name: "command", Kind: Enum, Values: []string{"up", "down", "reap"}, DefaultDoc: "from the event",
			Description: "What to do, decided by the event when not given: `pull_request` opened, synchronize or reopened → `up` (create or update the pull request's preview); closed → `down` (remove it); `schedule` or `workflow_dispatch` → `reap` (remove every preview of this repository whose pull request is closed or idle past `ttl`). `pull_request_target` is refused: it runs with the repository's secrets."},
		{Name: "pull-request", Kind: Int, Description: "With `command: up` or `down` outside a `pull_request` event (e.g. a `workflow_dispatch` that takes a preview down by hand): the pull request's number. Its head commit, branch and repository (a fork?) are read from GitHub with `github-token`."},
		{Name: "manifests", Kind: List, Commas: true, Description: "Required with `up`. The release: files, directories (every `*.yaml`, `*.yml`, `*.json` in them) or kustomization directories, one per line or comma-separated, as for deploy. Every namespaced object is placed in the preview's namespace; the manifests' own Namespace objects are left out (the preview has its own), any other cluster-scoped object (ClusterRole, CRD, ...) is refused by name. Deployed, verified and restored as a whole by the same engine as deploy."},
		{Name: "image", Kind: String, Description: "Image of the pull request (`repo:tag` or `repo@sha256:<digest>`): replaces the image of every container and init container of that repository in the manifests (at least one must match)."},
		{Name: "images", Kind: List, Description: "`repository=reference`, one per line (e.g. `ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:pr-12`); each replaces the image of every container and init container of that repository."},
		{Name: "release", Kind: String, Default: "erlmcp", Description: "The release's name: its history is kept in the preview's namespace, and the namespace prefix defaults to `<release>-pr-`."},
		{Name: "namespace-prefix", Kind: String, DefaultDoc: "`<release>-pr-`", Description: "The preview's namespace is this prefix followed by the pull request's number (e.g. `erlmcp-pr-12`); it must make a valid namespace name (a DNS-1123 label of at most 63 characters). The namespace is labelled as a preview of this repository and pull request: the reaper touches no other."},
		{Name: "url-template", Kind: String, Description: "The preview's URL, shown on the pull request and on its GitHub deployment: `{number}`, `{namespace}` and `{sha}` are replaced, e.g. `https://pr-{number}.preview.example.com`. Empty: no URL."},
		{Name: "environment-prefix", Kind: String, Default: "pr-", Description: "With `github-token`: the GitHub environment of a preview is this prefix followed by the pull request's number, one environment per pull request (a transient, non-production environment; its older deployments are marked inactive by the action, as GitHub's `auto_inactive` skips transient environments)."},
		{Name: "ttl", Kind: Duration, Default: "168h", Description: "With `reap`: a preview whose last push is older than this is removed even if its pull request is open (counted from the last push, not from creation). `0` keeps previews of open pull requests."},
		{Name: "max-previews", Kind: Int, Default: "10", Description: "Most previews of this repository up at once (`0`: no limit); a pull request beyond it gets a comment saying so and nothing is created. A pull request that has a preview keeps updating it."},
		{Name: "allow-forks", Kind: Bool, Default: "false", Description: "Give a preview to pull requests from forks. Off, such a pull request is refused with a comment and nothing is created: its code would run in the cluster with the workflow's credentials."},
		{Name: "quota-pods", Kind: Int, Default: "10", Description: "ResourceQuota of the preview's namespace: most pods."},
		{Name: "quota-requests-cpu", Kind: String, Default: "2", Description: "ResourceQuota of the preview's namespace: most CPU requested in all (a Kubernetes quantity)."},
		{Name: "quota-requests-memory", Kind: String, Default: "4Gi", Description: "ResourceQuota of the preview's namespace: most memory requested in all."},
		{Name: "quota-limits-cpu", Kind: String, Default: "8", Description: "ResourceQuota of the preview's namespace: most CPU limits in all (the example release peaks at 5.5 CPUs of limits while both its Deployments roll)."},
		{Name: "quota-limits-memory", Kind: String, Default: "8Gi", Description: "ResourceQuota of the preview's namespace: most memory limits in all."},
		{Name: "default-request-cpu", Kind: String, Default: "100m", Description: "LimitRange of the preview's namespace: the CPU request of a container that sets none (the quota refuses pods without requests)."},
		{Name: "default-request-memory", Kind: String, Default: "256Mi", Description: "LimitRange of the preview's namespace: the memory request of a container that sets none."},
		{Name: "default-limit-cpu", Kind: String, Default: "500m", Description: "LimitRange of the preview's namespace: the CPU limit of a container that sets none."},
		{Name: "default-limit-memory", Kind: String, Default: "512Mi", Description: "LimitRange of the preview's namespace: the memory limit of a container that sets none."},
		{Name: "timeout", Kind: Duration, Default: "10m", Description: "Longest time to wait for the release to verify (`up`) or the namespace to be gone (`down`, `reap`)."},
	}
	in = append(in, verdictInputs()...)
	in = append(in, credentialInputs()...)
	in = append(in,
		Input{Name: "github-token", Kind: String, Secret: true, ActionDefault: "${{ github.token }}", Description: "Token with `pull-requests: write` (the comment) and `deployments: write` (a transient GitHub deployment per pull request, with the preview's URL). Deleting a closed pull request's environment needs `administration: write`, which `GITHUB_TOKEN` never has: without it, one warning. A GitHub failure is a warning, never the run's failure."},
		Input{Name: "dry-run", Kind: Bool, Default: "false", Description: "Decide and print what would be done (with `reap`: the previews kept and removed, and why); nothing changes in the cluster or on GitHub."},
	)
	in = append(in, slackInputs()...)
	return Action{
		ID: "preview", Name: "erlmcp preview", Icon: "eye", Color: "green",
		Description: "A running copy of the release per pull request: its URL on the pull request, updated on every push, gone when the pull request closes.",
		Inputs:      in,
		Outputs: []Output{
			{Name: "namespace", Description: "The preview's namespace (empty for `reap`)."},
			{Name: "url", Description: "The preview's URL (from `url-template`; empty when none)."},
			{Name: "status", Structural: true, Description: "`up` (the push serves), `failed` (the push failed; the previous version serves when there was one), `down` (removed), `refused` (a fork, or `max-previews` reached: nothing created) or `reaped` (a `reap` run ended); empty on a dry run."},
			{Name: "failure-cause", Description: "Why the push failed, as one stable word (the deploy action's `failure-cause` vocabulary); empty unless `status` is `failed`."},
			slackOutput(),
		},
	}
}
