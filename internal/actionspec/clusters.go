package actionspec

// clustersInputs deploy to (or roll back) several clusters in waves.
func clustersInputs(deploy bool) []Input {
	in := []Input{
		{Name: "contexts", Kind: String, Description: "Several clusters: kubeconfig contexts (of `kubeconfig`), one wave per line, contexts of a wave comma-separated (e.g. `canary-eu` on the first line, `prod-eu, prod-us` on the second). Waves run in order, the contexts of a wave in parallel, each with the whole single-cluster run (pre-flight, lock, verdict, diagnostics, automatic rollback). Each context's namespace is `namespace` when the run gives it, else the context's own in the kubeconfig, else the default (as with `context`, and as kubectl does). Replaces `context`."},
	}
	if deploy {
		in = append(in, Input{Name: "rollback-scope", Kind: Enum, Default: "failed", Values: []string{"failed", "wave", "all"},
			Description: "With `contexts`: the first context that does not succeed halts the waves not started; then `failed` rolls back only the failed contexts (their own deploys do), `wave` also the contexts of that wave that succeeded, `all` every context this run changed."})
	}
	in = append(in,
		Input{Name: "github-token", Kind: String, Secret: true, Description: "Token with `deployments: write`: records the run in GitHub's Deployments API (the Environments page): a deployment per environment (per context with `contexts`: `production/prod-eu`), statuses `in_progress` then `success`, `failure` or `error`, older ones made inactive. A rollback marks the restored deployment active again. A GitHub failure is a warning, never the run's failure."},
		Input{Name: "environment-url", Kind: String, DefaultDoc: "the `health-url` input", Description: "With `github-token`: the URL shown for the environment on GitHub."},
	)
	return in
}

// clustersOutput is the per-context outcome of a run with contexts.
func clustersOutput() Output {
	return Output{Name: "clusters", Description: "With `contexts`: JSON array, one entry per context: context, wave, namespace, status (the deploy's, or `halted`/`cancelled` when it never started), revision, previous-revision, rolled-back, scope-rollback, duration-seconds, failure-reason, failure-cause."}
}
