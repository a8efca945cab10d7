package actionspec

// verdictInputs tune the rollout verdict of deploy and rollback: how much
// noise a healthy release may make before it is called doomed.
func verdictInputs() []Input {
	return []Input{
		{Name: "crashloop-restarts", Kind: Int, Default: "2", Description: "Restarts since the change that a container which is not Ready may have before the rollout is a crash loop (at least 1). With a real kubelet's 10 s / 20 s back-off the default fails a crash loop about 30 s in; a container that crashes once and then starts passes. A crash whose crashed instance's log names a cause no restart can clear (missing-env, config-syntax, undef, permission, an invalid node name) fails at the first crash instead."},
		{Name: "image-pull-grace", Kind: Duration, Default: "2m", Description: "How long an image pull that fails for a transient cause (429 rate limit, timeout, TLS, connection reset) may keep failing; a missing image or a refused credential fails at once."},
		{Name: "unschedulable-grace", Kind: Duration, Default: "60s", Description: "How long a new pod may stay unschedulable when no scale-up is under way; with a cluster-autoscaler `TriggeredScaleUp` or Karpenter `Nominated` event, or a nominated node, it may wait up to the timeout."},
	}
}
