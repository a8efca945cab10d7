package rollback

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/bluegreen"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// settleProgressive cleans what an unfinished canary or blue-green of the
// Deployment left, before any rollback: a canary is deleted (stable was
// never touched); a blue-green that had switched is switched back to the
// old pods, which is the rollback itself (done reports it).
func settleProgressive(ctx context.Context, rt *ghaction.Runtime, client kubernetes.Interface, ns, name string) (done bool, err error) {
	st, err := bluegreen.Pending(ctx, client, ns, name)
	if err != nil {
		return false, err
	}
	if st != nil {
		msg, err := bluegreen.Cleanup(ctx, client, ns, name)
		if err != nil {
			return false, fmt.Errorf("switch back the unfinished blue-green of %s: %w", name, err)
		}
		rt.Infof("%s", msg)
		if st.Switched {
			rt.Summary().Heading(2, fmt.Sprintf("↩️ Switched %s back to the old pods", st.Service)).
				Para(fmt.Sprintf("The blue-green of `%s` had switched service `%s`; it now selects the pods it served before (none was started), and the green Deployment is gone.", st.Image, st.Service))
			rt.SetOutput("status", "succeeded")
			return true, nil
		}
	}
	msg, err := canary.Cleanup(ctx, client, ns, name)
	if err != nil {
		return false, err
	}
	if msg != "no canary to clean up" {
		rt.Infof("%s", msg)
	}
	return false, nil
}
