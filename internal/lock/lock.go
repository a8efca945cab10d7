// Package lock keeps two pipelines from changing one Deployment at once.
//
// The lock is a coordination.k8s.io Lease named erlmcp-deploy.<deployment>
// beside the Deployment: holder = the run's URL, an expiry, and what it
// deploys. A Lease (rather than an annotation on the Deployment) because the
// deployment controller copies Deployment annotations onto ReplicaSets and
// `kubectl rollout undo` copies them back, which would resurrect stale locks.
package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Annotations on the Lease describing the holder's work.
const (
	EnvironmentAnnotation = "erlmcp-deploy.io/environment"
	ActionAnnotation      = "erlmcp-deploy.io/action"
	TargetAnnotation      = "erlmcp-deploy.io/target"
)

// Holder describes who takes the lock and for what.
type Holder struct {
	// ID identifies the run: its URL in GitHub Actions, user@host:pid on a laptop.
	ID          string
	Environment string
	Action      string
	Target      string
}

// HeldError is returned when another run holds the lock.
type HeldError struct {
	Holder  Holder
	Expires time.Time
}

// Error names the holder, what it does and when the lock expires.
func (e *HeldError) Error() string {
	return fmt.Sprintf("another run holds the deploy lock: %s (%s %s to %s) until %s; wait for it to finish (a deploy can take it over with force: true)",
		e.Holder.ID, e.Holder.Action, e.Holder.Target, e.Holder.Environment, e.Expires.UTC().Format(time.RFC3339))
}

// LostError is why a held lock was lost: another run took it over, or it
// could not be renewed before it expired.
type LostError struct {
	Lease string
	// By is the run that holds it now ("" when renewal failed).
	By  string
	Err error
}

// Error says the lock is gone and that this run stops changing things.
func (e *LostError) Error() string {
	if e.By != "" {
		return fmt.Sprintf("lost the deploy lock %s: %s took it over; this run stops changing things", e.Lease, e.By)
	}
	return fmt.Sprintf("lost the deploy lock %s: it could not be renewed before it expired (%v); this run stops changing things", e.Lease, e.Err)
}

// Unwrap is the renewal's error.
func (e *LostError) Unwrap() error { return e.Err }

// Lock is a held lock.
type Lock struct {
	client    kubernetes.Interface
	namespace string
	name      string
	holder    Holder
	ttl       time.Duration

	mu      sync.Mutex
	expires time.Time
	lost    *LostError
	stop    chan struct{}
	done    chan struct{}
	cancel  context.CancelCauseFunc
	// TookOver is the holder whose unexpired lock was taken with force (nil otherwise).
	TookOver *HeldError
	// Expired is the holder whose expired lock was taken over (nil otherwise).
	Expired *HeldError
}

// Name is the Lease name of a Deployment's lock.
func Name(deployment string) string { return "erlmcp-deploy." + deployment }

// Acquire takes the lock of deployment in namespace for ttl. An expired lock
// is taken over (reported in Lock.Expired); a live one held by another run
// is a *HeldError unless force, which takes it (reported in Lock.TookOver).
func Acquire(ctx context.Context, client kubernetes.Interface, namespace, deployment string, h Holder, ttl time.Duration, force bool) (*Lock, error) {
	l := &Lock{client: client, namespace: namespace, name: Name(deployment), holder: h, ttl: ttl}
	leases := client.CoordinationV1().Leases(namespace)
	for attempt := 0; attempt < 3; attempt++ {
		now := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: namespace, Annotations: map[string]string{
				EnvironmentAnnotation: h.Environment, ActionAnnotation: h.Action, TargetAnnotation: h.Target}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(h.ID), LeaseDurationSeconds: ptr.To(int32(ttl.Seconds())),
				AcquireTime: &now, RenewTime: &now},
		}
		l.expires = now.Add(ttl)
		_, err := leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: "erlmcp-deploy"})
		if err == nil {
			return l, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("take deploy lock %s/%s: %w", namespace, l.name, err)
		}
		cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read deploy lock %s/%s: %w", namespace, l.name, err)
		}
		held := heldBy(cur)
		switch {
		case held.Holder.ID == h.ID:
		case time.Now().After(held.Expires):
			l.Expired = held
		case force:
			l.TookOver = held
		default:
			return nil, held
		}
		lease.ResourceVersion = cur.ResourceVersion
		if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: "erlmcp-deploy"}); err != nil {
			if apierrors.IsConflict(err) {
				continue // someone else moved first: look again
			}
			return nil, fmt.Errorf("take deploy lock %s/%s: %w", namespace, l.name, err)
		}
		return l, nil
	}
	return nil, fmt.Errorf("take deploy lock %s/%s: it kept changing under us", namespace, l.name)
}

func heldBy(l *coordinationv1.Lease) *HeldError {
	e := &HeldError{Holder: Holder{Environment: l.Annotations[EnvironmentAnnotation], Action: l.Annotations[ActionAnnotation], Target: l.Annotations[TargetAnnotation]}}
	if l.Spec.HolderIdentity != nil {
		e.Holder.ID = *l.Spec.HolderIdentity
	}
	start := l.CreationTimestamp.Time
	if l.Spec.RenewTime != nil {
		start = l.Spec.RenewTime.Time
	}
	if l.Spec.LeaseDurationSeconds != nil {
		e.Expires = start.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
	}
	return e
}

// RenewEvery is how often Hold renews a lock of ttl: a third of it, so two
// renewals may fail before it expires.
func RenewEvery(ttl time.Duration) time.Duration { return max(ttl/3, 100*time.Millisecond) }

// Hold renews the lock (every RenewEvery of its TTL) until Release, so a run
// longer than the TTL keeps it, and returns ctx cancelled with a *LostError
// (context.Cause) once the lock is lost: taken over by another run, or not
// renewed before it expired. A run must stop changing things then. Release
// only stops the renewals: the context lives on (a run may release its lock
// before a last step that takes its own).
func (l *Lock) Hold(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	l.mu.Lock()
	if l.stop != nil {
		l.mu.Unlock()
		panic("lock: Hold called twice")
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	l.mu.Unlock()
	l.cancel = cancel
	go func() {
		defer close(l.done)
		tick := time.NewTicker(RenewEvery(l.ttl))
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if lost := l.renew(ctx); lost != nil {
				l.mu.Lock()
				l.lost = lost
				l.mu.Unlock()
				cancel(lost)
				return
			}
		}
	}()
	return ctx
}

// Lost is why the lock was lost (nil while it is held).
func (l *Lock) Lost() *LostError {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// renew moves the lease's renew time to now; it returns a *LostError when
// another run holds the lease or it expired before it could be renewed.
func (l *Lock) renew(ctx context.Context) *LostError {
	rctx, cancel := context.WithTimeout(ctx, RenewEvery(l.ttl))
	defer cancel()
	leases := l.client.CoordinationV1().Leases(l.namespace)
	err := func() error {
		cur, err := leases.Get(rctx, l.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if h := heldBy(cur); h.Holder.ID != l.holder.ID {
			return &LostError{Lease: l.namespace + "/" + l.name, By: h.Holder.ID}
		}
		now := metav1.NewMicroTime(time.Now())
		cur.Spec.RenewTime = &now
		cur.Spec.LeaseDurationSeconds = ptr.To(int32(max(l.ttl.Seconds(), 1)))
		if _, err := leases.Update(rctx, cur, metav1.UpdateOptions{FieldManager: "erlmcp-deploy"}); err != nil {
			return err
		}
		l.mu.Lock()
		l.expires = now.Add(l.ttl)
		l.mu.Unlock()
		return nil
	}()
	var lost *LostError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &lost):
		return lost
	case apierrors.IsNotFound(err):
		return &LostError{Lease: l.namespace + "/" + l.name, Err: fmt.Errorf("the lease was deleted: %w", err)}
	}
	l.mu.Lock()
	expired := time.Now().After(l.expires)
	l.mu.Unlock()
	if expired {
		return &LostError{Lease: l.namespace + "/" + l.name, Err: err}
	}
	return nil // a conflict or a passing API error: the next tick tries again
}

// Release stops Hold's renewals and gives the lock back if this run still
// holds it. It works on a cancelled ctx too: a run stopped by the runner
// must not leave its lock.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if lost := l.Lost(); lost != nil {
		return nil // someone else's now: nothing to give back
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	leases := l.client.CoordinationV1().Leases(l.namespace)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		l.mu.Lock()
		expires := l.expires
		l.mu.Unlock()
		return fmt.Errorf("release deploy lock %s/%s (it expires at %s; until then another deploy needs force: true): %w",
			l.namespace, l.name, expires.UTC().Format(time.RFC3339), err)
	}
	if h := heldBy(cur); h.Holder.ID != l.holder.ID {
		return fmt.Errorf("release deploy lock %s/%s: it was taken over by %s", l.namespace, l.name, h.Holder.ID)
	}
	err = leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release deploy lock %s/%s: %w", l.namespace, l.name, err)
	}
	return nil
}
