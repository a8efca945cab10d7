package waves

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][]string
		err  string
	}{
		{in: "canary-eu\nprod-eu, prod-us\n", want: [][]string{{"canary-eu"}, {"prod-eu", "prod-us"}}},
		{in: "  a  \n\n b,c,d ", want: [][]string{{"a"}, {"b", "c", "d"}}},
		{in: "kind-prod@eu:1", want: [][]string{{"kind-prod@eu:1"}}},
		{in: "", err: "no contexts"},
		{in: "a,,b", err: "line 1: an empty context between commas"},
		{in: "a\nb a", err: `line 2: "b a" is not a context name`},
		{in: "prod/eu", err: `"prod/eu" is not a context name`},
		{in: "a\nb, a", err: "line 2: context a is already in wave 1"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Scope{"": ScopeFailed, "failed": ScopeFailed, "wave": ScopeWave, "all": ScopeAll} {
		got, err := ParseScope(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseScope("everything")
	assert.EqualError(t, err, `"everything" is not a rollback scope`)
}

// fake is a set of clusters: what each deploy answers, and what was done.
type fake struct {
	mu        sync.Mutex
	answer    map[string]Outcome
	deployed  []string
	rolled    map[string]string
	rollErr   map[string]error
	started   map[int]int
	waveSizes map[int]int
	together  map[int]chan struct{}
}

func newFake(waves [][]string, answer map[string]Outcome) *fake {
	f := &fake{answer: answer, rolled: map[string]string{}, rollErr: map[string]error{}, started: map[int]int{}, waveSizes: map[int]int{}, together: map[int]chan struct{}{}}
	for i, w := range waves {
		f.waveSizes[i+1] = len(w)
		f.together[i+1] = make(chan struct{})
	}
	return f
}

// deploy waits until every context of its wave has started (so the test
// fails by timeout if a wave's contexts ran one after another).
func (f *fake) deploy(ctx context.Context, t Target) Outcome {
	f.mu.Lock()
	f.deployed = append(f.deployed, t.Context)
	f.started[t.Wave]++
	if f.started[t.Wave] == f.waveSizes[t.Wave] {
		close(f.together[t.Wave])
	}
	f.mu.Unlock()
	select {
	case <-f.together[t.Wave]:
	case <-time.After(5 * time.Second):
		return Outcome{Status: "failed", Reason: "the wave's contexts did not run in parallel"}
	}
	if o, ok := f.answer[t.Context]; ok {
		return o
	}
	return Outcome{Status: StatusSucceeded, PreviousRevision: "1", Revision: "2"}
}

func (f *fake) rollback(_ context.Context, t Target, previous string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rolled[t.Context] = previous
	return "3", f.rollErr[t.Context]
}

func statuses(r Result) map[string]string {
	out := map[string]string{}
	for _, o := range r.Outcomes {
		out[o.Context] = o.Status
	}
	return out
}

func TestRun(t *testing.T) {
	waves := [][]string{{"canary-eu"}, {"prod-eu", "prod-us"}, {"prod-ap"}}
	failed := Outcome{Status: "rolled-back", RolledBack: true, PreviousRevision: "1", Revision: "1", Reason: "CrashLoopBackOff"}
	for _, tc := range []struct {
		name     string
		scope    Scope
		answer   map[string]Outcome
		rollErr  map[string]error
		want     map[string]string
		rolled   map[string]string
		failWave int
	}{
		{name: "every wave succeeds", scope: ScopeAll,
			want:   map[string]string{"canary-eu": "succeeded", "prod-eu": "succeeded", "prod-us": "succeeded", "prod-ap": "succeeded"},
			rolled: map[string]string{}},
		{name: "a second-wave failure halts the third; scope failed rolls back nothing more", scope: ScopeFailed,
			answer:   map[string]Outcome{"prod-us": failed},
			want:     map[string]string{"canary-eu": "succeeded", "prod-eu": "succeeded", "prod-us": "rolled-back", "prod-ap": "halted"},
			rolled:   map[string]string{},
			failWave: 2},
		{name: "scope wave rolls back the failing wave's successes", scope: ScopeWave,
			answer:   map[string]Outcome{"prod-us": failed},
			want:     map[string]string{"canary-eu": "succeeded", "prod-eu": "rolled-back", "prod-us": "rolled-back", "prod-ap": "halted"},
			rolled:   map[string]string{"prod-eu": "1"},
			failWave: 2},
		{name: "scope all rolls back every context the run changed", scope: ScopeAll,
			answer:   map[string]Outcome{"prod-us": failed},
			want:     map[string]string{"canary-eu": "rolled-back", "prod-eu": "rolled-back", "prod-us": "rolled-back", "prod-ap": "halted"},
			rolled:   map[string]string{"canary-eu": "1", "prod-eu": "1"},
			failWave: 2},
		{name: "the twin: a context the run did not change is not rolled back", scope: ScopeAll,
			answer: map[string]Outcome{"prod-us": failed, "canary-eu": {Status: StatusSucceeded, PreviousRevision: "4", Revision: "4"}},
			want:   map[string]string{"canary-eu": "succeeded", "prod-eu": "rolled-back", "prod-us": "rolled-back", "prod-ap": "halted"},
			rolled: map[string]string{"prod-eu": "1"}, failWave: 2},
		{name: "a failed scope rollback is reported, not hidden", scope: ScopeWave,
			answer:  map[string]Outcome{"prod-us": failed},
			rollErr: map[string]error{"prod-eu": errors.New("forbidden")},
			want:    map[string]string{"canary-eu": "succeeded", "prod-eu": "succeeded", "prod-us": "rolled-back", "prod-ap": "halted"},
			rolled:  map[string]string{"prod-eu": "1"}, failWave: 2},
		{name: "a paused canary halts the next waves too", scope: ScopeFailed,
			answer: map[string]Outcome{"canary-eu": {Status: "paused"}},
			want:   map[string]string{"canary-eu": "paused", "prod-eu": "halted", "prod-us": "halted", "prod-ap": "halted"},
			rolled: map[string]string{}, failWave: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(waves, tc.answer)
			if tc.rollErr != nil {
				f.rollErr = tc.rollErr
			}
			var heard []int
			r := Runner{Deploy: f.deploy, Rollback: f.rollback, OnWave: func(w int, _ []Outcome) { heard = append(heard, w) }}
			res := r.Run(context.Background(), waves, tc.scope)
			assert.Equal(t, tc.want, statuses(res))
			assert.Equal(t, tc.rolled, f.rolled)
			assert.Equal(t, tc.failWave, res.FailedWave)
			assert.Equal(t, tc.failWave > 0, res.Failed())
			assert.Equal(t, tc.failWave > 0, !res.FirstFailure.IsZero())
			assert.False(t, res.Settled.Before(res.FirstFailure))
			for _, o := range res.Outcomes {
				if o.Status == StatusHalted {
					assert.NotContains(t, f.deployed, o.Context, "a halted context is never started")
				}
			}
			if tc.failWave == 0 {
				assert.Equal(t, []int{1, 2, 3}, heard)
			} else {
				assert.Equal(t, []int{1, 2, 3}[:tc.failWave], heard[:tc.failWave])
			}
			for _, o := range res.Outcomes {
				if o.ScopeRollback == "succeeded" {
					assert.Equal(t, "3", o.Revision, "revision now is the rollback's")
				}
			}
			if tc.rollErr != nil {
				for _, o := range res.Outcomes {
					if o.Context == "prod-eu" {
						assert.Equal(t, "failed: forbidden", o.ScopeRollback)
					}
				}
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	waves := [][]string{{"a", "b"}, {"c"}}
	ctx, cancel := context.WithCancel(context.Background())
	rolled := false
	r := Runner{
		Deploy: func(ctx context.Context, t Target) Outcome {
			cancel()
			<-ctx.Done()
			return Outcome{Status: "failed", Reason: "cancelled while waiting for the rollout"}
		},
		Rollback: func(context.Context, Target, string) (string, error) { rolled = true; return "", nil },
	}
	res := r.Run(ctx, waves, ScopeAll)
	assert.Equal(t, map[string]string{"a": "failed", "b": "failed", "c": "cancelled"}, statuses(res))
	assert.False(t, rolled, "a cancelled run rolls nothing back")
}

func TestRunKeepGoing(t *testing.T) {
	waves := [][]string{{"a"}, {"b"}}
	rolled := false
	r := Runner{KeepGoing: true,
		Deploy: func(_ context.Context, t Target) Outcome {
			if t.Context == "a" {
				return Outcome{Status: "failed", Reason: "forbidden"}
			}
			return Outcome{Status: StatusSucceeded, PreviousRevision: "3", Revision: "4"}
		},
		Rollback: func(context.Context, Target, string) (string, error) { rolled = true; return "", nil },
	}
	res := r.Run(context.Background(), waves, ScopeAll)
	assert.Equal(t, map[string]string{"a": "failed", "b": "succeeded"}, statuses(res), "a rollback across clusters goes on after one fails")
	assert.False(t, rolled)
	assert.True(t, res.Failed())
}
