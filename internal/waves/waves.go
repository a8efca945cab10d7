// Package waves deploys to several clusters: waves in order, the contexts
// of a wave in parallel, the first failure halting the waves not started,
// and a rollback scope saying what else is rolled back. It decides; the
// deploys and rollbacks themselves are functions it is given.
package waves

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Scope says what is rolled back besides a failed context (which its own
// deploy already rolled back).
type Scope string

// Scopes.
const (
	// ScopeFailed rolls back nothing more.
	ScopeFailed Scope = "failed"
	// ScopeWave also rolls back the contexts of the failing wave that succeeded.
	ScopeWave Scope = "wave"
	// ScopeAll rolls back every context this run changed.
	ScopeAll Scope = "all"
)

// Statuses a context ends in besides its deploy's own (succeeded, rolled-back, failed, aborted, paused).
const (
	// StatusSucceeded is the only status that lets the next wave start.
	StatusSucceeded = "succeeded"
	// StatusHalted: never started, because an earlier wave failed.
	StatusHalted = "halted"
	// StatusCancelled: never started, because the run was cancelled.
	StatusCancelled = "cancelled"
)

// contextName is what a kubeconfig context may be called here: no commas
// or spaces (they separate contexts), no slashes (GitHub environments use
// them to join environment and context).
var contextName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]*$`)

// Parse reads the contexts input: one wave per line, contexts of a wave
// separated by commas. Blank lines are skipped; a context may appear once.
func Parse(text string) ([][]string, error) {
	var out [][]string
	seen := map[string]int{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var wave []string
		for _, c := range strings.Split(line, ",") {
			c = strings.TrimSpace(c)
			switch {
			case c == "":
				return nil, fmt.Errorf("line %d: an empty context between commas", n+1)
			case !contextName.MatchString(c):
				return nil, fmt.Errorf("line %d: %q is not a context name (letters, digits, and _ . : @ -)", n+1, c)
			case seen[c] > 0:
				return nil, fmt.Errorf("line %d: context %s is already in wave %d", n+1, c, seen[c])
			}
			seen[c] = len(out) + 1
			wave = append(wave, c)
		}
		out = append(out, wave)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no contexts")
	}
	return out, nil
}

// ParseScope reads rollback-scope.
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case ScopeFailed, ScopeWave, ScopeAll:
		return Scope(s), nil
	case "":
		return ScopeFailed, nil
	}
	return "", fmt.Errorf("%q is not a rollback scope", s)
}

// Target is one context of one wave.
type Target struct {
	Context string
	// Wave counts from 1.
	Wave int
}

// Outcome is what happened in one context.
type Outcome struct {
	Target
	// Status is the deploy's status output, or halted / cancelled.
	Status string
	// Revision serves now; PreviousRevision served before the deploy.
	Revision, PreviousRevision string
	Reason                     string
	// Cause is the context's failure-cause output ("" when it did not fail).
	Cause string
	// RolledBack: the context's own deploy rolled it back.
	RolledBack bool
	Duration   time.Duration
	// ScopeRollback is the rollback-scope rollback of a context that had
	// succeeded: "" (none), "succeeded" (Status is then rolled-back),
	// "unchanged" (the run changed nothing there), or "failed: <why>".
	ScopeRollback string
	// Ended is when the context settled (its deploy, then its scope rollback).
	Ended time.Time
}

// Changed reports whether the deploy changed what serves there.
func (o Outcome) Changed() bool {
	return o.Status == StatusSucceeded && o.Revision != "" && o.Revision != o.PreviousRevision
}

// Result is the whole run.
type Result struct {
	Outcomes []Outcome
	// FailedWave is the wave that halted the run (0: none).
	FailedWave int
	// FirstFailure is when the first context failed; Settled when every
	// context had settled after it (zero without a failure).
	FirstFailure, Settled time.Time
}

// Failed reports whether any context did not succeed.
func (r Result) Failed() bool {
	for _, o := range r.Outcomes {
		if o.Status != StatusSucceeded {
			return true
		}
	}
	return false
}

// Runner runs the waves with the deploy and rollback it is given.
type Runner struct {
	// Deploy deploys one context with the whole single-cluster machinery
	// and reports its outcome (Target, Ended filled in by the Runner).
	Deploy func(ctx context.Context, t Target) Outcome
	// Rollback returns a context that succeeded to what served before
	// (previous is its PreviousRevision): the revision serving after it.
	Rollback func(ctx context.Context, t Target, previous string) (string, error)
	// OnWave, when set, hears each wave's outcomes once it settled (and the
	// run's outcomes so far), e.g. to update a Slack message.
	OnWave func(wave int, so []Outcome)
	// KeepGoing runs every wave whatever the earlier ones did, and rolls
	// nothing back (a rollback across clusters: each one is worth putting back).
	KeepGoing bool
	Now       func() time.Time
}

func (r Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run deploys wave after wave. A wave with a context that did not succeed
// halts the waves after it; then the scope's rollbacks run in parallel. A
// cancelled run starts nothing more and rolls nothing back.
func (r Runner) Run(ctx context.Context, waves [][]string, scope Scope) Result {
	var res Result
	for i, wave := range waves {
		if (res.FailedWave > 0 && !r.KeepGoing) || ctx.Err() != nil {
			status := StatusHalted
			if ctx.Err() != nil {
				status = StatusCancelled
			}
			for _, c := range wave {
				res.Outcomes = append(res.Outcomes, Outcome{Target: Target{Context: c, Wave: i + 1}, Status: status})
			}
			continue
		}
		outs := make([]Outcome, len(wave))
		var wg sync.WaitGroup
		for j, c := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := Target{Context: c, Wave: i + 1}
				o := r.Deploy(ctx, t)
				o.Target, o.Ended = t, r.now()
				outs[j] = o
			}()
		}
		wg.Wait()
		first := len(res.Outcomes)
		res.Outcomes = append(res.Outcomes, outs...)
		for _, o := range outs {
			if o.Status != StatusSucceeded {
				if res.FailedWave == 0 {
					res.FailedWave = i + 1
				}
				if res.FirstFailure.IsZero() || o.Ended.Before(res.FirstFailure) {
					res.FirstFailure = o.Ended
				}
			}
		}
		if res.FailedWave > 0 && ctx.Err() == nil && !r.KeepGoing {
			r.rollBack(ctx, &res, scope, first)
		}
		if r.OnWave != nil {
			r.OnWave(i+1, res.Outcomes)
		}
	}
	if !res.FirstFailure.IsZero() {
		for _, o := range res.Outcomes {
			if o.Ended.After(res.Settled) {
				res.Settled = o.Ended
			}
		}
		if res.Settled.Before(res.FirstFailure) {
			res.Settled = res.FirstFailure
		}
	}
	return res
}

// rollBack rolls back, in parallel, the contexts the scope names that this
// run changed (failed contexts were rolled back by their own deploys).
func (r Runner) rollBack(ctx context.Context, res *Result, scope Scope, waveStart int) {
	var idx []int
	for k := range res.Outcomes {
		o := res.Outcomes[k]
		switch {
		case o.Status != StatusSucceeded:
		case scope == ScopeAll, scope == ScopeWave && k >= waveStart:
			if !o.Changed() {
				res.Outcomes[k].ScopeRollback = "unchanged"
				continue
			}
			idx = append(idx, k)
		}
	}
	var wg sync.WaitGroup
	for _, k := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &res.Outcomes[k]
			if rev, err := r.Rollback(ctx, o.Target, o.PreviousRevision); err != nil {
				o.ScopeRollback = "failed: " + err.Error()
			} else {
				o.ScopeRollback, o.Status, o.RolledBack = "succeeded", "rolled-back", true
				if rev != "" {
					o.Revision = rev
				}
			}
			o.Ended = r.now()
		}()
	}
	wg.Wait()
}
