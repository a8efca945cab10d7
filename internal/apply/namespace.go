package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
)

// nsState is what pre-flight knows of the release's namespace.
type nsState int

const (
	nsExists nsState = iota
	nsMissing
	// nsUnknown: the deploy identity may not read namespaces.
	nsUnknown
)

// createdNamespace is a namespace this deploy created.
type createdNamespace struct {
	name string
	uid  types.UID
}

// namespaceState reads whether the namespace exists. An identity that may
// not read namespaces (the Role of examples/kubernetes/rbac.yaml) learns
// nothing: nsUnknown, and pre-flight goes on as for an existing one.
func (e *Engine) namespaceState(ctx context.Context, name string) (nsState, error) {
	_, err := e.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return nsExists, nil
	case apierrors.IsNotFound(err):
		return nsMissing, nil
	case apierrors.IsForbidden(err):
		return nsUnknown, nil
	}
	return nsUnknown, fmt.Errorf("read namespace %s: %w (nothing was changed)", name, err)
}

// createNamespace creates the release's namespace from the release's own
// Namespace object (owner labels included), before the lock, which lives in
// it, is taken. It is a create, not an apply, so that two first deploys at
// once never both believe they created it (the second finds it and does not
// delete it); the create's fields are then handed to our apply manager, as
// a server-side apply would have recorded them, so a later release that
// drops a label from the Namespace removes it. A namespace created meanwhile
// by someone else is used as it is (nil, nil).
func (e *Engine) createNamespace(ctx context.Context, opts Options, s *set) (*createdNamespace, error) {
	i := -1
	for j, o := range s.objects {
		if isNamespace(o.Unstructured) && o.GetName() == opts.Namespace {
			i = j
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("release %s holds no Namespace %s (nothing was changed)", opts.Release, opts.Namespace)
	}
	res := e.resource(s, i)
	obj := s.objects[i].DeepCopy()
	created, err := res.Create(ctx, obj, metav1.CreateOptions{FieldManager: owner.Field})
	if apierrors.IsAlreadyExists(err) {
		e.Log.Warnf("namespace %s was created meanwhile by someone else: the release uses it (and never deletes it)", opts.Namespace)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create namespace %s, which release %s holds: %w (nothing was changed)", opts.Namespace, opts.Release, err)
	}
	cn := &createdNamespace{name: created.GetName(), uid: created.GetUID()}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(created, sets.New(owner.Field), owner.Field)
	if err == nil && patch != nil {
		_, err = res.Patch(ctx, cn.name, types.JSONPatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		e.Log.Warnf("namespace %s: its fields stay with the create (%v): a label later removed from its manifest stays on it", cn.name, err)
	}
	e.Log.Infof("created namespace %s (the release holds it, and it did not exist)", cn.name)
	return cn, nil
}

// undoNamespace deletes the namespace this deploy created (releasing the
// lock in it first) and says so: done is false when it could not (the
// message says what to do), and the message is "" when it created none.
func (e *Engine) undoNamespace(ctx context.Context, pf *preflight) (msg string, done bool) {
	if pf == nil || pf.created == nil {
		return "", true
	}
	pf.release(ctx)
	cn := pf.created
	pf.created = nil
	err := e.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), cn.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &cn.uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		e.Log.Errorf("namespace %s, which this deploy created, could not be deleted: %v; delete it by hand", cn.name, err)
		return fmt.Sprintf("namespace %s, which this deploy created, could not be deleted (%v): delete it by hand", cn.name, err), false
	}
	e.Log.Infof("deleted namespace %s again, which this deploy had created", cn.name)
	return fmt.Sprintf("deleted namespace %s again, which this deploy had created", cn.name), true
}

// undoNamespaceErr is err of a failure before the first change of the
// release, with what became of the namespace this deploy created.
func (e *Engine) undoNamespaceErr(ctx context.Context, pf *preflight, err error) error {
	msg, done := e.undoNamespace(ctx, pf)
	switch {
	case msg == "":
		return fmt.Errorf("%w (nothing was changed)", err)
	case done:
		return fmt.Errorf("%w; %s: nothing was changed", err, msg)
	}
	return fmt.Errorf("%w; %s", err, msg)
}
