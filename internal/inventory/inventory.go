// Package inventory is the release inventory of a manifest deploy: which
// objects a release owns and the manifests it applied, one revision per
// Secret in the release's namespace (as helm stores its releases).
//
// Secret erlmcp-deploy.release.<name>.v<revision>, of type
// erlmcp-deploy.io/release, is labelled with the release, the revision and
// its status (so List and LastDeployed are one label-selected list); its data
// holds the Release as gzipped JSON ("release") and the applied YAML stream
// gzipped ("manifests").
package inventory

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Type, labels and data keys of a release Secret.
const (
	// SecretType is the type of a release Secret.
	SecretType corev1.SecretType = "erlmcp-deploy.io/release"
	// ManagedByLabel is set to ManagedBy on every release Secret.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel.
	ManagedBy = "erlmcp-deploy"
	// ReleaseLabel holds the release name.
	ReleaseLabel = "erlmcp-deploy.io/release"
	// RevisionLabel holds the revision number.
	RevisionLabel = "erlmcp-deploy.io/revision"
	// StatusLabel holds the revision's Status.
	StatusLabel = "erlmcp-deploy.io/status"
	// ReleaseKey is the data key of the gzipped JSON Release.
	ReleaseKey = "release"
	// ManifestsKey is the data key of the gzipped manifests (absent when there are none).
	ManifestsKey = "manifests"
)

// MaxNameLength is the longest release name accepted.
const MaxNameLength = 53

// DefaultKeep is how many revisions a Store keeps per release when Keep is 0.
const DefaultKeep = 10

// Ref identifies one object of a release.
type Ref struct {
	APIVersion string `json:"apiVersion"`          // e.g. "apps/v1", "v1"
	Kind       string `json:"kind"`                // e.g. "Deployment"
	Namespace  string `json:"namespace,omitempty"` // "" for cluster-scoped
	Name       string `json:"name"`
}

// RefOf returns the Ref of u (the zero Ref for nil).
func RefOf(u *unstructured.Unstructured) Ref {
	if u == nil {
		return Ref{}
	}
	return Ref{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// String is "Kind/namespace/name" for a namespaced object, "Kind/name" for a cluster-scoped one.
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Key is the identity ignoring the version: group/Kind/namespace/name (group = APIVersion's group part).
func (r Ref) Key() string {
	return group(r.APIVersion) + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

// group is the group part of an apiVersion: "apps" for "apps/v1", "" for "v1".
func group(apiVersion string) string {
	if i := strings.Index(apiVersion, "/"); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

// Diff is what moving from the objects of old to those of new does: Keys present only in new (Created), only in old (Pruned), in both (Kept). Order follows the input slices.
//
// Kept holds the Refs of new (their apiVersion may differ from old's). A Key
// repeated within one slice counts once, at its first place.
func Diff(old, new []Ref) (created, pruned, kept []Ref) {
	inOld := make(map[string]bool, len(old))
	for _, r := range old {
		inOld[r.Key()] = true
	}
	inNew := make(map[string]bool, len(new))
	for _, r := range new {
		k := r.Key()
		if inNew[k] {
			continue
		}
		inNew[k] = true
		if inOld[k] {
			kept = append(kept, r)
		} else {
			created = append(created, r)
		}
	}
	seen := make(map[string]bool, len(old))
	for _, r := range old {
		k := r.Key()
		if inNew[k] || seen[k] {
			continue
		}
		seen[k] = true
		pruned = append(pruned, r)
	}
	return created, pruned, kept
}

// Status of a release revision.
type Status string

// The statuses of a revision.
const (
	// Pending is a revision being applied / verified.
	Pending Status = "pending"
	// Deployed is a verified revision: serving.
	Deployed Status = "deployed"
	// Failed is a revision whose verdict failed (it was rolled back or left).
	Failed Status = "failed"
	// Superseded is a once-deployed revision after a later one was deployed.
	Superseded Status = "superseded"
)

// valid reports whether s is one of the four statuses.
func (s Status) valid() bool {
	switch s {
	case Pending, Deployed, Failed, Superseded:
		return true
	}
	return false
}

// Release is one revision of a release.
type Release struct {
	Name           string    `json:"name"`
	Revision       int       `json:"revision"`
	Status         Status    `json:"status"`
	Reason         string    `json:"reason,omitempty"` // why it failed
	Time           time.Time `json:"time"`             // when it was created
	Updated        time.Time `json:"updated"`          // last status change
	Images         []string  `json:"images,omitempty"`
	Cause          string    `json:"cause,omitempty"` // change cause (e.g. commit, who)
	Objects        []Ref     `json:"objects"`
	Manifests      []byte    `json:"-"`                        // the applied objects as a YAML stream (stored gzipped)
	RolledBackFrom int       `json:"rolledBackFrom,omitempty"` // set when this revision re-applied an older one
}

// SecretName is the Secret holding a revision: "erlmcp-deploy.release.<name>.v<revision>".
func SecretName(name string, revision int) string {
	return fmt.Sprintf("erlmcp-deploy.release.%s.v%d", name, revision)
}

// ValidateName checks that name is a DNS-1123 subdomain of at most 53 characters.
func ValidateName(name string) error {
	if len(name) <= MaxNameLength && len(validation.IsDNS1123Subdomain(name)) == 0 {
		return nil
	}
	return fmt.Errorf("inventory: release name %q is invalid: it must be a DNS-1123 subdomain of at most %d characters "+
		"(lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. \"erlmcp\" or \"erlmcp.staging\")",
		name, MaxNameLength)
}

// Store reads and writes the releases of one namespace.
type Store struct {
	Client    kubernetes.Interface
	Namespace string
	// Keep is how many revisions to keep per release (default 10); older ones are deleted by Create. Never deletes the newest Deployed one.
	Keep int
	Now  func() time.Time // default time.Now
}

func (s Store) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().UTC().Round(0) // no monotonic reading: what is stored is what is returned
}

func (s Store) keep() int {
	if s.Keep <= 0 {
		return DefaultKeep
	}
	return s.Keep
}

func (s Store) check() error {
	if s.Client == nil {
		return errors.New("inventory: the Store has no Client")
	}
	if s.Namespace == "" {
		return errors.New("inventory: the Store has no Namespace")
	}
	return nil
}

// Create stores rel as the next revision (latest+1, or 1) with status rel.Status (Pending if empty), sets rel.Revision/Time/Updated, and prunes history beyond Keep.
//
// It fails before writing anything when the name is invalid or the gzipped
// release exceeds a Secret's 1 MiB. A Secret that already exists (a
// concurrent run took the revision) is an error naming it. When pruning fails
// the revision is stored (rel is updated) and the error says so.
func (s Store) Create(ctx context.Context, rel *Release) error {
	if rel == nil {
		return errors.New("inventory: Create: nil release")
	}
	if err := ValidateName(rel.Name); err != nil {
		return err
	}
	r := *rel
	if r.Status == "" {
		r.Status = Pending
	}
	if !r.Status.valid() {
		return fmt.Errorf("inventory: release %s: unknown status %q (want %s, %s, %s or %s)", r.Name, r.Status, Pending, Deployed, Failed, Superseded)
	}
	if err := s.check(); err != nil {
		return err
	}
	// The size does not depend on the revision or time (fixed-width enough):
	// check it before touching the cluster.
	r.Time = s.now()
	r.Updated = r.Time
	if _, err := encode(&r); err != nil {
		return err
	}
	existing, err := s.List(ctx, r.Name)
	if err != nil {
		return err
	}
	r.Revision = 1
	if len(existing) > 0 {
		r.Revision = existing[0].Revision + 1
	}
	sec, err := s.secret(&r)
	if err != nil {
		return err
	}
	if _, err := s.Client.CoreV1().Secrets(s.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("inventory: release %s revision %d: Secret %s/%s already exists (another run stored this revision concurrently): %w",
				r.Name, r.Revision, s.Namespace, sec.Name, err)
		}
		return fmt.Errorf("inventory: release %s: create Secret %s/%s: %w", r.Name, s.Namespace, sec.Name, err)
	}
	*rel = r
	if err := s.prune(ctx, append([]Release{r}, existing...)); err != nil {
		return fmt.Errorf("inventory: release %s: revision %d is stored, but pruning old revisions failed: %w", r.Name, r.Revision, err)
	}
	return nil
}

// prune deletes the revisions of all (newest first) beyond Keep, except the
// newest Deployed one.
func (s Store) prune(ctx context.Context, all []Release) error {
	keep := s.keep()
	if len(all) <= keep {
		return nil
	}
	newestDeployed := 0
	for _, r := range all {
		if r.Status == Deployed {
			newestDeployed = r.Revision
			break
		}
	}
	var errs []error
	for _, r := range all[keep:] {
		if r.Revision == newestDeployed {
			continue
		}
		name := SecretName(r.Name, r.Revision)
		err := s.Client.CoreV1().Secrets(s.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete Secret %s/%s: %w", s.Namespace, name, err))
		}
	}
	return errors.Join(errs...)
}

// SetStatus changes one revision's status and reason (and Updated); when st is Deployed, every other Deployed revision of the release becomes Superseded.
func (s Store) SetStatus(ctx context.Context, name string, revision int, st Status, reason string) error {
	if !st.valid() {
		return fmt.Errorf("inventory: release %s: unknown status %q (want %s, %s, %s or %s)", name, st, Pending, Deployed, Failed, Superseded)
	}
	if err := s.check(); err != nil {
		return err
	}
	now := s.now()
	if err := s.update(ctx, name, revision, st, reason, now); err != nil {
		return err
	}
	if st != Deployed {
		return nil
	}
	others, err := s.list(ctx, name, Deployed)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.Revision == revision {
			continue
		}
		if err := s.update(ctx, name, o.Revision, Superseded, "", now); err != nil {
			return fmt.Errorf("inventory: release %s: revision %d is deployed, but superseding revision %d failed: %w", name, revision, o.Revision, err)
		}
	}
	return nil
}

// AddObjects adds refs to the objects of one revision (those it holds
// already are skipped): objects a deploy could not prune stay the
// release's, so the next deploy prunes them again.
func (s Store) AddObjects(ctx context.Context, name string, revision int, refs []Ref) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.modify(ctx, name, revision, func(r *Release) {
		held := map[string]bool{}
		for _, o := range r.Objects {
			held[o.Key()] = true
		}
		for _, o := range refs {
			if !held[o.Key()] {
				held[o.Key()] = true
				r.Objects = append(r.Objects, o)
			}
		}
	})
}

// update sets the status, reason and Updated of one revision, retrying on
// write conflicts.
func (s Store) update(ctx context.Context, name string, revision int, st Status, reason string, now time.Time) error {
	return s.modify(ctx, name, revision, func(r *Release) {
		r.Status, r.Reason, r.Updated = st, reason, now
	})
}

// modify rewrites one revision with change, retrying on write conflicts.
func (s Store) modify(ctx context.Context, name string, revision int, change func(*Release)) error {
	secrets := s.Client.CoreV1().Secrets(s.Namespace)
	secName := SecretName(name, revision)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sec, err := secrets.Get(ctx, secName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return s.missing(ctx, name, revision)
		}
		if err != nil {
			return fmt.Errorf("inventory: release %s: get Secret %s/%s: %w", name, s.Namespace, secName, err)
		}
		r, err := decode(sec)
		if err != nil {
			return err
		}
		change(r)
		next, err := s.secret(r)
		if err != nil {
			return err
		}
		sec.Labels = next.Labels
		sec.Data = next.Data
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("inventory: release %s: update Secret %s/%s: %w", name, s.Namespace, secName, err)
		}
		return nil
	})
	return err
}

// List returns the release's revisions, newest first (empty, nil error when none).
func (s Store) List(ctx context.Context, name string) ([]Release, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.list(ctx, name, "")
}

// list returns the release's revisions with status st (all when ""), newest first.
func (s Store) list(ctx context.Context, name string, st Status) ([]Release, error) {
	sel := labels.Set{ManagedByLabel: ManagedBy, ReleaseLabel: name}
	if st != "" {
		sel[StatusLabel] = string(st)
	}
	list, err := s.Client.CoreV1().Secrets(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("inventory: release %s: list Secrets in %s: %w", name, s.Namespace, err)
	}
	out := make([]Release, 0, len(list.Items))
	for i := range list.Items {
		sec := &list.Items[i]
		if sec.Type != SecretType {
			continue
		}
		r, err := decode(sec)
		if err != nil {
			return nil, err
		}
		if r.Name != name {
			continue
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Release) int { return b.Revision - a.Revision })
	return out, nil
}

// Get returns one revision (error naming the revisions that exist when absent).
func (s Store) Get(ctx context.Context, name string, revision int) (*Release, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	secName := SecretName(name, revision)
	sec, err := s.Client.CoreV1().Secrets(s.Namespace).Get(ctx, secName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, s.missing(ctx, name, revision)
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: release %s: get Secret %s/%s: %w", name, s.Namespace, secName, err)
	}
	return decode(sec)
}

// missing is the error for an absent revision, naming those that exist.
func (s Store) missing(ctx context.Context, name string, revision int) error {
	all, err := s.list(ctx, name, "")
	if err != nil {
		return fmt.Errorf("inventory: release %s has no revision %d (listing the others failed: %w)", name, revision, err)
	}
	if len(all) == 0 {
		return fmt.Errorf("inventory: release %s has no revision %d: it has no revisions in namespace %s", name, revision, s.Namespace)
	}
	revs := make([]string, len(all))
	for i, r := range all {
		revs[i] = strconv.Itoa(r.Revision)
	}
	return fmt.Errorf("inventory: release %s has no revision %d (revisions in namespace %s: %s)", name, revision, s.Namespace, strings.Join(revs, ", "))
}

// LastDeployed returns the newest Deployed revision, or nil (nil error) when there is none.
func (s Store) LastDeployed(ctx context.Context, name string) (*Release, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	deployed, err := s.list(ctx, name, Deployed)
	if err != nil || len(deployed) == 0 {
		return nil, err
	}
	return &deployed[0], nil
}

// secret is the Secret holding r.
func (s Store) secret(r *Release) (*corev1.Secret, error) {
	data, err := encode(r)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      SecretName(r.Name, r.Revision),
			Namespace: s.Namespace,
			Labels: map[string]string{
				ManagedByLabel: ManagedBy,
				ReleaseLabel:   r.Name,
				RevisionLabel:  strconv.Itoa(r.Revision),
				StatusLabel:    string(r.Status),
			},
		},
		Type: SecretType,
		Data: data,
	}, nil
}

// encode is the data of r's Secret; it fails when it exceeds a Secret's limit.
func encode(r *Release) (map[string][]byte, error) {
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("inventory: release %s: encode: %w", r.Name, err)
	}
	data := map[string][]byte{}
	if data[ReleaseKey], err = gzipped(js); err != nil {
		return nil, fmt.Errorf("inventory: release %s: compress: %w", r.Name, err)
	}
	if len(r.Manifests) > 0 {
		if data[ManifestsKey], err = gzipped(r.Manifests); err != nil {
			return nil, fmt.Errorf("inventory: release %s: compress the manifests: %w", r.Name, err)
		}
	}
	if total := len(data[ReleaseKey]) + len(data[ManifestsKey]); total > corev1.MaxSecretSize {
		return nil, fmt.Errorf("inventory: release %s: the manifests are %d KiB gzipped (%d KiB with the release record); a Secret holds at most 1 MiB",
			r.Name, kib(len(data[ManifestsKey])), kib(total))
	}
	return data, nil
}

// kib is n bytes in KiB, rounded up.
func kib(n int) int { return (n + 1023) / 1024 }

// decode is the Release stored in sec.
func decode(sec *corev1.Secret) (*Release, error) {
	js, err := gunzipped(sec.Data[ReleaseKey])
	if err != nil {
		return nil, fmt.Errorf("inventory: Secret %s/%s: key %q: %w", sec.Namespace, sec.Name, ReleaseKey, err)
	}
	r := &Release{}
	if err := json.Unmarshal(js, r); err != nil {
		return nil, fmt.Errorf("inventory: Secret %s/%s: key %q: %w", sec.Namespace, sec.Name, ReleaseKey, err)
	}
	if m, ok := sec.Data[ManifestsKey]; ok {
		if r.Manifests, err = gunzipped(m); err != nil {
			return nil, fmt.Errorf("inventory: Secret %s/%s: key %q: %w", sec.Namespace, sec.Name, ManifestsKey, err)
		}
	}
	return r, nil
}

func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gunzipped(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("empty (not gzip)")
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}
