// Package verdict reads the inputs that tune the rollout verdict, for the
// deploy and rollback adapters (kept out of package setup so smoke does not
// link the rollout engine).
package verdict

import (
	"time"

	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// Options reads the inputs that tune the rollout verdict (crashloop-restarts,
// image-pull-grace, unschedulable-grace), shared by deploy and rollback.
func Options(rt *ghaction.Runtime) rollout.Options {
	o := rollout.Options{
		CrashLoopRestarts:  int32(rt.Int("crashloop-restarts")),
		ImagePullGrace:     rt.Duration("image-pull-grace"),
		UnschedulableGrace: rt.Duration("unschedulable-grace"),
	}
	if o.CrashLoopRestarts < 1 {
		rt.Invalid("crashloop-restarts", "must be at least 1", "a whole number of restarts such as 2 (the default) or 5")
	}
	for name, d := range map[string]time.Duration{"image-pull-grace": o.ImagePullGrace, "unschedulable-grace": o.UnschedulableGrace} {
		if d <= 0 {
			rt.Invalid(name, "must be longer than 0", "a Go duration such as 30s, 2m, 5m")
		}
	}
	return o
}
