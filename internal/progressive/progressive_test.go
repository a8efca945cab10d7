package progressive

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSelectsTemplate(t *testing.T) {
	pod := map[string]string{"app": "erlmcp", "tier": "web"}
	for _, tc := range []struct {
		name     string
		selector map[string]string
		want     bool
	}{
		{"pinned, otherwise the app's", map[string]string{"app": "erlmcp", HashLabel: "abc"}, true},
		{"another app", map[string]string{"app": "dashboard", HashLabel: "abc"}, false},
		{"only a hash selects nothing we can tell", map[string]string{HashLabel: "abc"}, false},
		{"a label the pods lack", map[string]string{"app": "erlmcp", "track": "canary"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, selectsTemplate(tc.selector, pod)) })
	}
}

func TestSettledAndSettleErrorSayWhatWasLeft(t *testing.T) {
	started := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	bg := &State{Strategy: StrategyBlueGreen, Image: "erlmcp:1.1.0", Run: "run/7", Started: started, Service: "erlmcp", Switched: true}
	for _, tc := range []struct {
		name string
		s    Settled
		want string
	}{
		{"nothing", Settled{}, "no unfinished canary or blue-green"},
		{"a blue-green after its switch", Settled{Found: bg, Actions: []string{"service erlmcp switched back to the old pods (pod-template-hash=a)", "deployment erlmcp-green removed"}},
			"undid the unfinished blue-green of erlmcp:1.1.0 started by run/7 at 2026-12-06T15:00:00Z (after the switch): service erlmcp switched back to the old pods (pod-template-hash=a); deployment erlmcp-green removed"},
		{"a canary", Settled{Found: &State{Strategy: StrategyCanary, Image: "erlmcp:2", Run: "r", Started: started, Step: 2, Percent: 50}, Actions: []string{"deployment erlmcp-canary removed"}},
			"undid the unfinished canary of erlmcp:2 started by r at 2026-12-06T15:00:00Z (step 2, 50%): deployment erlmcp-canary removed"},
		{"workloads without a record", Settled{Actions: []string{"deployment erlmcp-green removed"}}, "undid left-over canary/blue-green workloads: deployment erlmcp-green removed"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.s.String()) })
	}
	err := &SettleError{Deployment: "erlmcp", Found: bg, Done: []string{"nothing"}, Err: errors.New("forbidden")}
	assert.Equal(t, `could not undo the unfinished blue-green of erlmcp:1.1.0 on deployment erlmcp after it nothing: forbidden; nothing else was changed, and its state is left on the deployment (annotation erlmcp-deploy.io/progressive): fix the cause, then run deploy again or the rollback action with to: cleanup`, err.Error())
}

func TestReadOldRecords(t *testing.T) {
	// Records written before this package (canary's and blue-green's own) still read.
	for _, raw := range []string{
		`{"strategy":"canary","image":"i","run":"r","started":"2026-12-01T00:00:00Z","step":1,"percent":25,"workloads":["erlmcp-canary"]}`,
		`{"strategy":"blue-green","image":"i","run":"r","started":"2026-12-01T00:00:00Z","service":"erlmcp","blue":"a","green":"b","switched":true}`,
	} {
		st, err := Read(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{StateAnnotation: raw}}})
		require.NoError(t, err)
		require.NotNil(t, st)
		assert.Equal(t, "i", st.Image)
	}
	_, err := Read(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", Annotations: map[string]string{StateAnnotation: "{"}}})
	assert.ErrorContains(t, err, "deployment erlmcp: annotation erlmcp-deploy.io/progressive")
}
