package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestFleetServes: every cluster at its image complete; a cluster wanted
// back on the previous image must have been seen on the new one and hold
// none of its pods.
func TestFleetServes(t *testing.T) {
	done := func(img string) clusterSnap {
		return clusterSnap{image: img, generation: 2, observed: 2, desired: 2, replicas: 2, updated: 2, available: 2}
	}
	back := done(prevImage)
	back.sawNext = true
	settled := map[string]string{"canary-eu": nextImage, "prod-eu": prevImage, "prod-us": prevImage}
	for _, tc := range []struct {
		name  string
		snaps map[string]clusterSnap
		want  map[string]string
		ok    bool
	}{
		{"all on the new image", map[string]clusterSnap{"a": done(nextImage), "b": done(nextImage)}, map[string]string{"a": nextImage, "b": nextImage}, true},
		{"one cluster not polled yet", map[string]clusterSnap{"a": done(nextImage)}, map[string]string{"a": nextImage, "b": nextImage}, false},
		{"generation not observed", map[string]clusterSnap{"a": func() clusterSnap { s := done(nextImage); s.generation = 3; return s }()},
			map[string]string{"a": nextImage}, false},
		{"an old pod left (surge)", map[string]clusterSnap{"a": func() clusterSnap { s := done(nextImage); s.replicas = 3; return s }()},
			map[string]string{"a": nextImage}, false},
		{"one not yet available", map[string]clusterSnap{"a": func() clusterSnap { s := done(nextImage); s.available = 1; return s }()},
			map[string]string{"a": nextImage}, false},
		{"settled after the failure", map[string]clusterSnap{"canary-eu": done(nextImage), "prod-eu": back, "prod-us": back}, settled, true},
		{"wave 2 not started yet: never left the previous image", map[string]clusterSnap{"canary-eu": done(nextImage), "prod-eu": done(prevImage), "prod-us": back},
			settled, false},
		{"a pod of the new image still terminating", map[string]clusterSnap{"canary-eu": done(nextImage), "prod-eu": back,
			"prod-us": func() clusterSnap { s := back; s.nextPods = 1; return s }()}, settled, false},
		{"prod-eu left on the new image", map[string]clusterSnap{"canary-eu": done(nextImage), "prod-eu": func() clusterSnap { s := done(nextImage); s.sawNext = true; return s }(),
			"prod-us": back}, settled, false},
	} {
		assert.Equal(t, tc.ok, fleetServes(tc.snaps, tc.want, nextImage), tc.name)
	}
}

// TestFailVerdict: scope wave rolls back prod-eu; prod-us's own deploy
// rolls it back; canary-eu (wave 1) keeps the new image.
func TestFailVerdict(t *testing.T) {
	right := []waveCluster{
		{Context: "canary-eu", Wave: 1, Status: "succeeded"},
		{Context: "prod-eu", Wave: 2, Status: "rolled-back", RolledBack: true, ScopeRollback: "succeeded"},
		{Context: "prod-us", Wave: 2, Status: "rolled-back", RolledBack: true, FailureReason: `pods "erlmcp-x" is forbidden: exceeded quota: pods`},
	}
	v, ok := failVerdict(right)
	assert.True(t, ok)
	assert.Equal(t, waveFailExpected, v)

	scopeFailed := append([]waveCluster(nil), right...)
	scopeFailed[1] = waveCluster{Context: "prod-eu", Wave: 2, Status: "succeeded"} // what rollback-scope failed would leave
	_, ok = failVerdict(scopeFailed)
	assert.False(t, ok)

	all := append([]waveCluster(nil), right...)
	all[0] = waveCluster{Context: "canary-eu", Wave: 1, Status: "rolled-back", RolledBack: true, ScopeRollback: "succeeded"} // scope all
	_, ok = failVerdict(all)
	assert.False(t, ok)

	_, ok = failVerdict(right[:2])
	assert.False(t, ok, "a context missing from the output")
}

func TestRatioStat(t *testing.T) {
	s := time.Second
	assert.Equal(t, "**0.50** (runs: 0.40, —, 0.60)", ratioStat([]time.Duration{4 * s, 5 * s, 6 * s}, []time.Duration{10 * s, 0, 10 * s}))
	assert.Equal(t, "**0.50** (runs: 0.50)", ratioStat([]time.Duration{5 * s}, []time.Duration{10 * s}))
	assert.Equal(t, "— (runs: —)", ratioStat([]time.Duration{0}, []time.Duration{10 * s}))
}
