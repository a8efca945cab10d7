// Package backoff holds the two pieces every retry loop here needs: an
// exponential wait and a sleep that ends with its context.
package backoff

import (
	"context"
	"time"
)

// Exponential is the wait before try attempt+1 (attempt counts from 1):
// base, doubled after each try, never more than limit.
func Exponential(base, limit time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Sleep waits d, or less when ctx ends first (then it returns ctx.Err()).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
