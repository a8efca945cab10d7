package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestPreviewReadLine: the failure line, the restore and, only inside the
// outputs: block, the status and failure-cause of `erlmcp-deploy preview`.
func TestPreviewReadLine(t *testing.T) {
	at := time.Unix(100, 0)
	var o pvStepOutcome
	for _, l := range []string{
		"status=up", // a log line before the outputs block is not the verdict
		"::error::revision 3 of release erlmcp failed: erlmcp-dashboard: image ghcr.io/acme/erlmcp-dashboard:pr-3-fault-imagepull not found",
		"revision 4 of release erlmcp failed: later",
		"rolled back in 600ms: revision 2 of release erlmcp is serving again (recorded as revision 4)",
	} {
		o.readLine(line{at: at, text: l})
		at = at.Add(time.Second)
	}
	assert.Equal(t, "", o.verdict)
	assert.Equal(t, time.Unix(101, 0), o.failLine, "the first failure line")
	assert.Equal(t, 600*time.Millisecond, o.rolledBackIn)
	for _, l := range []string{"outputs:", "  namespace=pv-101", "  status=failed", "  failure-cause=image-not-found"} {
		o.readLine(line{at: at, text: l})
	}
	assert.Equal(t, "failed", o.verdict)
	assert.Equal(t, "image-not-found", o.reason)

	var apply pvStepOutcome
	apply.readLine(line{at: at, text: "revision 2 of release erlmcp failed to apply: quota exceeded"})
	assert.Equal(t, at, apply.failLine)
}

func TestPeerVerdict(t *testing.T) {
	assert.Equal(t, "succeeded", peerVerdict(true, true, false))
	assert.Equal(t, "failed, undone", peerVerdict(true, false, true))
	assert.Equal(t, "failed", peerVerdict(true, false, false))
	assert.Equal(t, "failed", peerVerdict(false, false, false), "create, apply or delete failed")
}

// TestPreviewServing: a step starts from the last push before it that was
// not doomed.
func TestPreviewServing(t *testing.T) {
	assert.Nil(t, pvServing(0))
	assert.Equal(t, pvSteps[0].images(), pvServing(1))
	assert.Equal(t, pvSteps[1].images(), pvServing(2))
	assert.Equal(t, pvSteps[1].images(), pvServing(3), "the doomed push was restored")
	assert.Nil(t, pvSteps[3].images())
	for i, st := range pvSteps {
		assert.Equal(t, st.close, i == len(pvSteps)-1)
	}
}

func TestPreviewSettleFor(t *testing.T) {
	open, doomed, closed := pvSteps[0], pvSteps[2], pvSteps[3]
	served := pvTimes{complete: time.Unix(1, 0)}
	assert.True(t, settleFor(open, "up")(served))
	assert.False(t, settleFor(open, "succeeded")(pvTimes{}))
	assert.Nil(t, settleFor(open, "failed"), "a wrong verdict waits for nothing")
	assert.True(t, settleFor(doomed, "failed, undone")(pvTimes{back: time.Unix(1, 0)}))
	assert.False(t, settleFor(doomed, "failed")(served))
	assert.True(t, settleFor(closed, "down")(pvTimes{gone: time.Unix(1, 0)}))
	assert.Nil(t, settleFor(closed, "failed"))
}
