package rollback_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/rollback"
)

// rel is a revision whose manifests are m and objects objs (names of ConfigMaps).
func rel(n int, st inventory.Status, m string, objs ...string) inventory.Release {
	r := inventory.Release{Name: "erlmcp", Revision: n, Status: st, Manifests: []byte(m)}
	for _, o := range objs {
		r.Objects = append(r.Objects, inventory.Ref{APIVersion: "v1", Kind: "ConfigMap", Name: o})
	}
	return r
}

// releaseHistory builds a history newest first from revisions given oldest first.
func releaseHistory(revs ...inventory.Release) []inventory.Release {
	out := make([]inventory.Release, len(revs))
	for i, r := range revs {
		out[len(revs)-1-i] = r
	}
	return out
}

const (
	dep  = inventory.Deployed
	sup  = inventory.Superseded
	fail = inventory.Failed
	pend = inventory.Pending
)

func TestPureResolveRelease(t *testing.T) {
	// Two good deploys: 2 serves.
	twoGood := releaseHistory(rel(1, sup, "A", "a", "common"), rel(2, dep, "B", "b", "common"))
	// 3 failed and was restored automatically as 4 (2's manifests).
	autoRestored := releaseHistory(rel(1, sup, "A", "a"), rel(2, sup, "B", "b"), rel(3, fail, "C", "c"), rel(4, dep, "B", "b"))
	// 3 failed and was left (rollback-on-failure: false): its objects are live.
	failedLeft := releaseHistory(rel(1, sup, "A", "a"), rel(2, dep, "B", "b"), rel(3, fail, "C", "c"))
	// 3 was cancelled mid-apply.
	pendingLeft := releaseHistory(rel(1, sup, "A", "a"), rel(2, dep, "B", "b"), rel(3, pend, "C", "c"))
	// A rollback put 1 back as 3 and marked 2 failed.
	rolledBack := releaseHistory(rel(1, sup, "A", "a"), rel(2, fail, "B", "b"), rel(3, dep, "A", "a"))
	// No revision ever verified.
	neverGood := releaseHistory(rel(1, fail, "A", "a"))

	for _, tc := range []struct {
		name       string
		revs       []inventory.Release
		to         string
		target     int
		from       int
		unchanged  bool
		delete     []string
		markFailed []int
		err        string
	}{
		{name: "previous", revs: twoGood, to: "previous", target: 1, from: 2, delete: []string{"b"}, markFailed: []int{2}},
		{name: "empty means previous", revs: twoGood, to: "", target: 1, from: 2, delete: []string{"b"}, markFailed: []int{2}},
		{name: "last-successful when the newest is verified is previous", revs: twoGood, to: "last-successful", target: 1, from: 2, delete: []string{"b"}, markFailed: []int{2}},
		{name: "previous skips a restore of what serves and failed revisions", revs: autoRestored, to: "previous", target: 1, from: 4, delete: []string{"b"}, markFailed: []int{4}},
		{name: "previous below the serving one, a failed newest one left live", revs: failedLeft, to: "previous", target: 1, from: 3, delete: []string{"c", "b"}, markFailed: []int{2}},
		{name: "last-successful puts back what was verified", revs: failedLeft, to: "last-successful", target: 2, from: 3, delete: []string{"c"}},
		{name: "last-successful after a cancelled deploy marks it failed", revs: pendingLeft, to: "last-successful", target: 2, from: 3, delete: []string{"c"}, markFailed: []int{3}},
		{name: "a number", revs: autoRestored, to: "3", target: 3, from: 4, delete: []string{"b"}, markFailed: []int{4}},
		{name: "a number already serving", revs: twoGood, to: "2", target: 2, from: 2, unchanged: true},
		{name: "a number whose manifests serve (restored)", revs: rolledBack, to: "1", target: 1, from: 3, unchanged: true},
		{name: "a number when a failed revision is live", revs: failedLeft, to: "2", target: 2, from: 3, delete: []string{"c"}},
		{name: "nothing verified before", revs: rolledBack, to: "previous", err: "release erlmcp has no verified revision before revision 3, the one serving"},
		{name: "nothing successful before", revs: rolledBack, to: "last-successful", err: "release erlmcp has no successful revision other than revision 3, the one serving"},
		{name: "never verified", revs: neverGood, to: "last-successful", err: "release erlmcp has no verified revision (deploy marks"},
		{name: "never verified, previous", revs: neverGood, to: "previous", err: "release erlmcp has no verified revision serving"},
		{name: "missing number", revs: twoGood, to: "9", err: "revision 9 not found; the history of release erlmcp holds 2, 1"},
		{name: "zero", revs: twoGood, to: "0", err: "release revisions start at 1"},
		{name: "an image", revs: twoGood, to: "ghcr.io/acme/erlmcp:1.0.0", err: "an image only works for a Deployment; in release mode give a revision"},
		{name: "junk", revs: twoGood, to: "prev", err: `"prev" is not previous, last-successful or a revision number`},
		{name: "no history", revs: nil, to: "previous", err: "release erlmcp has no revisions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := rollback.ResolveRelease(tc.revs, tc.to, "erlmcp")
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.target, p.Target.Revision, "target")
			assert.Equal(t, tc.from, p.From, "from")
			assert.Equal(t, tc.unchanged, p.Unchanged, "unchanged")
			if tc.unchanged {
				return
			}
			var del []string
			for _, r := range p.Delete {
				del = append(del, r.Name)
			}
			assert.Equal(t, tc.delete, del, "delete")
			assert.Equal(t, tc.markFailed, p.MarkFailed, "mark failed")
		})
	}
}

func TestPureParseReleaseTo(t *testing.T) {
	for to, want := range map[string]int{"": 0, "previous": 0, "last-successful": 0, "7": 7} {
		n, err := rollback.ParseReleaseTo(to)
		require.NoError(t, err, to)
		assert.Equal(t, want, n, to)
	}
	for _, to := range []string{"-1", "ghcr.io/acme/erlmcp@sha256:abc", "latest"} {
		_, err := rollback.ParseReleaseTo(to)
		assert.Error(t, err, to)
	}
}

func TestPureReleaseRows(t *testing.T) {
	r := rel(4, dep, "B", "b", "c")
	r.Images, r.Cause, r.RolledBackFrom = []string{"ghcr.io/acme/erlmcp:1.1.0", "ghcr.io/acme/erlmcp-dashboard:1.0.0"}, "rollback from revision 3 to revision 2", 2
	f := rel(3, fail, "C", "c")
	f.Reason = "rolled back from by octocat"
	rows := rollback.ReleaseRows([]inventory.Release{r, f})
	assert.Equal(t, []string{"4", "deployed", "ghcr.io/acme/erlmcp:1.1.0, ghcr.io/acme/erlmcp-dashboard:1.0.0", "2", "0001-01-01T00:00:00Z",
		"rollback from revision 3 to revision 2", "restores revision 2"}, rows[0])
	assert.Equal(t, "rolled back from by octocat", rows[1][6])
	assert.Len(t, rollback.ReleaseHeader, len(rows[0]))
}
