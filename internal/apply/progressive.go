package apply

import (
	"context"

	"github.com/org/erlmcp-deploy/internal/progressive"
)

// settle undoes what an unfinished canary or blue-green of each Deployment
// of the release left (progressive.Settle), under the release's lock and
// before anything of the release is applied; a failure stops the deploy
// with the state left and what to run. A canary's promotion
// (opts.Progressive) owns that state and is not settled.
func (e *Engine) settle(ctx context.Context, opts Options, s *set) error {
	if opts.Progressive || opts.DryRun {
		return nil
	}
	for i, o := range s.objects {
		if o.GetKind() != "Deployment" || s.mappings[i].Resource.Group != "apps" {
			continue
		}
		ns := o.GetNamespace()
		if ns == "" {
			ns = opts.Namespace
		}
		settled, err := progressive.Settle(ctx, e.Client, ns, o.GetName())
		if err != nil {
			return err
		}
		if settled.Did() {
			e.Log.Warnf("%s", settled)
		}
	}
	return nil
}
