package rollback

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/progressive"
)

// settleProgressive undoes what an unfinished canary or blue-green of the
// Deployment left, before any rollback, under the deploy lock: a canary is
// deleted (stable was never touched); a blue-green that had switched is
// switched back to the old pods, which is the rollback itself (done
// reports it). An error stops the rollback: it says what is left.
func settleProgressive(ctx context.Context, rt *ghaction.Runtime, client kubernetes.Interface, ns, name string) (done bool, err error) {
	left, err := progressive.Left(ctx, client, ns, name)
	if err != nil {
		// The rollback itself reports the cluster's problem in its own terms.
		rt.Debugf("could not look for an unfinished canary or blue-green: %v", err)
		return false, nil
	}
	if !left {
		return false, nil
	}
	lk, err := lock.Acquire(ctx, client, ns, name, lock.Holder{ID: setup.Holder(rt), Environment: rt.String("environment"),
		Action: "rollback", Target: "clean-up of " + name}, 5*time.Minute, false)
	if err != nil {
		return false, fmt.Errorf("%w (nothing was changed)", err)
	}
	defer func() {
		if err := lk.Release(context.WithoutCancel(ctx)); err != nil {
			rt.Warnf("%v", err)
		}
	}()
	settled, err := progressive.Settle(lk.Hold(ctx), client, ns, name)
	if err != nil {
		return false, err
	}
	if !settled.Did() {
		return false, nil
	}
	rt.Infof("%s", settled)
	if st := settled.Found; settled.SwitchedBack && st != nil {
		rt.Summary().Heading(2, fmt.Sprintf("↩️ Switched %s back to the old pods", st.Service)).
			Para(fmt.Sprintf("The blue-green of `%s` had switched service `%s`; it now selects the pods it served before (none was started), and the green Deployment is gone.", st.Image, st.Service))
		rt.SetOutput("status", "succeeded")
		return true, nil
	}
	return false, nil
}
