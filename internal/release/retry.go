package release

import (
	"context"

	"github.com/org/erlmcp-deploy/internal/ghretry"
)

// Retry is the retry policy for GitHub calls (the one every GitHub caller shares).
type Retry = ghretry.Policy

// do runs call under the retry policy, warning before each retry.
func (p *Publisher) do(ctx context.Context, what string, call func() error) error {
	return p.Retry.Do(ctx, what, p.log().Warnf, call)
}
