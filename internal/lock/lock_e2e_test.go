package lock_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

var seq atomic.Int32

func namespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("lock-%d", seq.Add(1))
	_, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return ns
}

const ttl = 2 * time.Second

func holder(id string) lock.Holder {
	return lock.Holder{ID: id, Environment: "test", Action: "deploy", Target: "erlmcp:1"}
}

// refusedFor tries to take the lock as run "second" every 200 ms for d and
// returns how many tries were refused with a *HeldError (it fails the test
// on anything else, and on a try that got the lock).
func refusedFor(t *testing.T, ns string, d time.Duration) int {
	t.Helper()
	refused := 0
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		lk, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("second"), ttl, false)
		var held *lock.HeldError
		if !errors.As(err, &held) {
			if lk != nil {
				_ = lk.Release(context.Background())
			}
			t.Fatalf("after %d refusals the second run was not refused: lock %v, error %v", refused, lk != nil, err)
		}
		assert.Equal(t, "first", held.Holder.ID)
		refused++
	}
	return refused
}

// A run that holds its lock three times its TTL keeps it: a second run is
// refused throughout, and gets it once the first releases it.
func TestHeldLockOutlivesItsTTL(t *testing.T) {
	ns := namespace(t)
	lk, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("first"), ttl, false)
	require.NoError(t, err)
	ctx := lk.Hold(context.Background())

	n := refusedFor(t, ns, 3*ttl+time.Second)
	assert.Greater(t, n, 20)
	require.NoError(t, ctx.Err(), "the holder's context stays live while it holds the lock")
	assert.Nil(t, lk.Lost())

	require.NoError(t, lk.Release(context.Background()))
	assert.NoError(t, ctx.Err(), "Release stops the heartbeat, not the run")
	second, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("second"), ttl, false)
	require.NoError(t, err)
	assert.Nil(t, second.Expired, "released, not expired")
	require.NoError(t, second.Release(context.Background()))
}

// The twin: without the heartbeat the lease expires after its TTL and the
// second run takes it over (reported as expired).
func TestUnheldLockExpires(t *testing.T) {
	ns := namespace(t)
	lk, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("first"), ttl, false)
	require.NoError(t, err)
	refusedFor(t, ns, ttl/2)
	time.Sleep(ttl)
	second, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("second"), ttl, false)
	require.NoError(t, err)
	require.NotNil(t, second.Expired)
	assert.Equal(t, "first", second.Expired.Holder.ID)
	require.NoError(t, second.Release(context.Background()))
	require.NoError(t, lk.Release(context.Background()), "the first run's release finds no lease: nothing to do")
}

// A run whose lock is taken over (force) learns it at its next renewal: its
// context is cancelled with a *LostError naming the new holder, and its
// Release leaves the new holder's lease alone.
func TestLostLockCancelsTheRun(t *testing.T) {
	ns := namespace(t)
	lk, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("first"), ttl, false)
	require.NoError(t, err)
	ctx := lk.Hold(context.Background())

	second, err := lock.Acquire(context.Background(), cluster.Client, ns, "erlmcp", holder("second"), ttl, true)
	require.NoError(t, err)
	require.NotNil(t, second.TookOver)
	select {
	case <-ctx.Done():
	case <-time.After(2 * lock.RenewEvery(ttl)):
		t.Fatal("the first run did not notice that it lost its lock")
	}
	var lost *lock.LostError
	require.ErrorAs(t, context.Cause(ctx), &lost)
	assert.Equal(t, "second", lost.By)
	assert.Contains(t, lost.Error(), "second took it over; this run stops changing things")
	assert.Same(t, lost, lk.Lost())

	require.NoError(t, lk.Release(context.Background()))
	cur, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), lock.Name("erlmcp"), metav1.GetOptions{})
	require.NoError(t, err, "the new holder's lease is left alone")
	assert.Equal(t, "second", *cur.Spec.HolderIdentity)
	require.NoError(t, second.Release(context.Background()))
	_, err = cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), lock.Name("erlmcp"), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}
