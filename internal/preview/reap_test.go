package preview

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestReap(t *testing.T) {
	const repo = "acme/erlmcp"
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ttl := 72 * time.Hour
	ns := func(name string, number int, pushed, created time.Time) Namespace {
		n := Namespace{Name: name, Labels: Labels(repo, number), Annotations: map[string]string{RepositoryAnnotation: repo}, Created: created}
		if !pushed.IsZero() {
			n.Annotations[LastPushAnnotation] = pushed.Format(time.RFC3339)
		}
		return n
	}
	old := now.Add(-30 * 24 * time.Hour)
	other := ns("other-pr-5", 5, now.Add(-100*24*time.Hour), old)
	other.Labels = Labels("acme/other", 5)
	sameLabelOtherRepo := ns("erlmcp-pr-6", 6, now.Add(-100*24*time.Hour), old)
	sameLabelOtherRepo.Annotations[RepositoryAnnotation] = "acme/ERLMCP-fork"
	badNumber := ns("erlmcp-pr-x", 7, old, old)
	badNumber.Labels[PullRequestLabel] = "07"
	notManaged := ns("erlmcp-pr-8", 8, old, old)
	notManaged.Labels[ManagedByLabel] = "helm"

	namespaces := []Namespace{
		ns("erlmcp-pr-12", 12, now.Add(-time.Hour), old),                                     // fresh: pushed an hour ago, created a month ago
		ns("erlmcp-pr-3", 3, now.Add(-time.Hour), old),                                       // closed
		ns("erlmcp-pr-4", 4, now.Add(-ttl-time.Minute), now.Add(-ttl*2)),                     // idle past the ttl
		ns("erlmcp-pr-9", 9, time.Time{}, now.Add(-4*24*time.Hour)),                          // no annotation: counted from creation
		ns("erlmcp-pr-10", 10, time.Time{}, time.Time{}),                                     // nothing known
		{Name: "erlmcp", Labels: map[string]string{ManagedByLabel: ManagedBy}, Created: old}, // the release's own namespace
		{Name: "kube-system", Created: old},
		other, sameLabelOtherRepo, badNumber, notManaged,
	}
	open := map[int]bool{12: true, 4: true, 9: true, 10: true, 5: false, 6: false, 7: false, 8: false}
	assert.Equal(t, []Decision{
		{Namespace: "erlmcp-pr-3", Number: 3, Remove: true, Reason: "pull request #3 is closed", LastPush: now.Add(-time.Hour)},
		{Namespace: "erlmcp-pr-4", Number: 4, Remove: true, Reason: "idle: last push 3d ago, past the ttl of 3d", LastPush: now.Add(-ttl - time.Minute)},
		{Namespace: "erlmcp-pr-9", Number: 9, Remove: true, Reason: "idle: created 4d ago (no last-push annotation), past the ttl of 3d",
			LastPush: now.Add(-4 * 24 * time.Hour)},
		{Namespace: "erlmcp-pr-10", Number: 10, Reason: "pull request #10 is open; no last push recorded"},
		{Namespace: "erlmcp-pr-12", Number: 12, Reason: "pull request #12 is open; last push 1h ago, within the ttl of 3d",
			LastPush: now.Add(-time.Hour)},
	}, Reap(repo, namespaces, open, now, ttl))

	// Without a ttl only closed pull requests go.
	var removed []string
	for _, d := range Reap(repo, namespaces, open, now, 0) {
		if d.Remove {
			removed = append(removed, d.Namespace)
		}
	}
	assert.Equal(t, []string{"erlmcp-pr-3"}, removed)
	assert.Empty(t, Reap(repo, nil, open, now, ttl))
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m", 3 * time.Hour: "3h",
		200 * time.Minute: "3h20m", 48 * time.Hour: "2d", 52 * time.Hour: "2d4h",
	} {
		assert.Equal(t, want, Age(d), d.String())
	}
}
