package actionspec

// strategyInputs choose how deploy rolls an image out: rolling, or a canary
// judged by the fail-fast verdict and by metrics.
func strategyInputs() []Input {
	return []Input{
		{Name: "strategy", Kind: Enum, Default: "rolling", Values: []string{"rolling", "canary", "blue-green"}, Description: "`rolling`: the Deployment's own rolling update, judged by the verdict. `canary`: a `<deployment>-canary` Deployment on the new image next to the untouched stable one (selected by the same Service), grown through `canary-steps`, each step verified (fail-fast) and judged by `analysis`; then promoted by a rolling deploy of the stable Deployment, or aborted (canary deleted, stable untouched). `blue-green`: a `<deployment>-green` Deployment on the new image, checked through `<service>-preview` (`preview-url`), then `service` switched to it by pod-template-hash; the old pods stay for `blue-green-keep` (a rollback is a switch back), then the Deployment follows and green is removed. With `manifests`, `canary` runs a canary of every Deployment whose pod template the release changes (on the release's template), and the promotion applies the release as a whole; `blue-green` needs `image`."},
		{Name: "canary-steps", Kind: List, Commas: true, Default: "10,50", Description: "Canary sizes in percent of the stable Deployment's replicas (at least one pod, never more than stable has; stable keeps all of its pods)."},
		{Name: "canary-interval", Kind: Duration, Default: "1m", Description: "Time between two measurements of the analysis (an analysis file's `interval:` wins). Each canary step is held for `canary-interval` × `canary-analysis-count` (its bake), with or without an analysis, while the canary's pods are watched: a restart or a lost Ready aborts."},
		{Name: "canary-analysis-count", Kind: Int, Default: "3", Description: "Measurements per canary step (an analysis file's `count:` wins); with `canary-interval`, the step's bake time."},
		{Name: "canary-baseline", Kind: Bool, Default: "false", Description: "Also run `<deployment>-baseline` on the old image, as large as the canary, so metrics compare like with like (always on when an analysis metric uses `judge:`)."},
		{Name: "analysis", Kind: String, Description: "Analysis file (YAML): Prometheus queries with `{{track}}` (canary or baseline), each with `max`/`min` or a baseline-vs-canary `judge` (Mann–Whitney U), `failureLimit`, `inconclusiveLimit`, `noData` (inconclusive or fail; never a pass) and `inconclusive: abort|wait`. See docs/canary.md."},
		{Name: "canary-checks", Kind: String, Description: "Checks file (YAML, the smoke action's `checks-file` format; each check with `path:`) run in each canary step once the canary is verified, before the analysis, against a Ready pod of `<deployment>-canary` only, through a port-forward via the API server; a failed check aborts the canary (stable untouched)."},
		{Name: "canary-port", Kind: String, Default: "8080", Description: "With `canary-checks`: the canary pods' port the checks are sent to (a number, or a container port name such as `http`)."},
		{Name: "prometheus-url", Kind: String, Description: "Prometheus server whose HTTP API the analysis queries (required with `analysis`)."},
		{Name: "service", Kind: String, DefaultDoc: "the `deployment` input", Description: "With `strategy: blue-green`: the live Service that is switched."},
		{Name: "preview-url", Kind: String, Description: "With `strategy: blue-green`: URL (reaching `<service>-preview`, e.g. `http://erlmcp-preview.erlmcp.svc/health`) that must answer 2xx before the switch."},
		{Name: "blue-green-keep", Kind: Duration, Default: "5m", Description: "With `strategy: blue-green`: how long the old pods stay after the switch; until then a rollback (the rollback action, or a failed `health-url`) switches back in seconds without starting a pod."},
		{Name: "canary-decision", Kind: String, Description: "`promote` or `abort`: finish a canary whose analysis was inconclusive with `inconclusive: wait` (same image); in the pipeline, after an environment approval."},
	}
}
