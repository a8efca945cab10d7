package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/backoff"
)

func TestExponential(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {60, time.Second}} {
		assert.Equal(t, tc.want, backoff.Exponential(100*time.Millisecond, time.Second, tc.attempt), "attempt %d", tc.attempt)
	}
	assert.Equal(t, 5*time.Second, backoff.Exponential(10*time.Second, 5*time.Second, 1), "the limit wins over a larger base")
}

func TestSleep(t *testing.T) {
	assert.NoError(t, backoff.Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	began := time.Now()
	assert.ErrorIs(t, backoff.Sleep(ctx, time.Hour), context.Canceled)
	assert.Less(t, time.Since(began), 5*time.Second)
}
