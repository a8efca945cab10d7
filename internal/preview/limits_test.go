package preview

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestAdmit(t *testing.T) {
	for _, tc := range []struct {
		name          string
		existing, max int
		has, ok       bool
		reason        string
	}{
		{"under the limit", 2, 3, false, true, ""},
		{"no limit", 50, 0, false, true, ""},
		{"at the limit", 3, 3, false, false, "3 previews are up already, the most `max-previews` allows (3)"},
		{"at the limit with a preview of its own", 3, 3, true, true, ""},
		{"over the limit (lowered) with a preview of its own", 5, 3, true, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, reason := Admit(tc.existing, tc.max, tc.has)
			assert.Equal(t, tc.ok, ok)
			if tc.reason == "" {
				assert.Empty(t, reason)
			} else {
				assert.Contains(t, reason, tc.reason)
			}
		})
	}
}

func TestAdmitFork(t *testing.T) {
	fork := PullRequest{Number: 12, HeadRepo: "mallory/erlmcp", BaseRepo: "acme/erlmcp"}
	ok, reason := AdmitFork(fork, false)
	assert.False(t, ok)
	assert.Equal(t, "pull request #12 comes from mallory/erlmcp, not acme/erlmcp: a fork's code gets no preview "+
		"(it would run in the cluster with this repository's credentials) unless the workflow sets `allow-forks: true`", reason)
	ok, _ = AdmitFork(fork, true)
	assert.True(t, ok)
	ok, reason = AdmitFork(PullRequest{Number: 3, BaseRepo: "acme/erlmcp"}, false)
	assert.False(t, ok)
	assert.Contains(t, reason, "comes from a deleted fork")
	ok, reason = AdmitFork(PullRequest{Number: 3, HeadRepo: "acme/erlmcp", BaseRepo: "acme/erlmcp"}, false)
	assert.True(t, ok)
	assert.Empty(t, reason)
}

func TestQuotaAndLimitRangeDefaults(t *testing.T) {
	q, err := Limits{}.Quota("erlmcp-pr-12")
	require.NoError(t, err)
	assert.Equal(t, "ResourceQuota", q.Kind)
	assert.Equal(t, "erlmcp-pr-12", q.Namespace)
	assert.Equal(t, QuotaName, q.Name)
	assert.Equal(t, "erlmcp-deploy", q.Labels[ManagedByLabel])
	hard := map[corev1.ResourceName]string{}
	for k, v := range q.Spec.Hard {
		hard[k] = v.String()
	}
	assert.Equal(t, map[corev1.ResourceName]string{"pods": "10", "requests.cpu": "2", "requests.memory": "4Gi",
		"limits.cpu": "8", "limits.memory": "8Gi"}, hard)

	lr, err := DefaultLimits().LimitRange("erlmcp-pr-12")
	require.NoError(t, err)
	assert.Equal(t, "LimitRange", lr.Kind)
	require.Len(t, lr.Spec.Limits, 1)
	item := lr.Spec.Limits[0]
	assert.Equal(t, corev1.LimitTypeContainer, item.Type)
	assert.Equal(t, "500m", ptrString(item.Default.Cpu()))
	assert.Equal(t, "512Mi", ptrString(item.Default.Memory()))
	assert.Equal(t, "100m", ptrString(item.DefaultRequest.Cpu()))
	assert.Equal(t, "256Mi", ptrString(item.DefaultRequest.Memory()))
}

func ptrString(q *resource.Quantity) string { return q.String() }

func TestLimitsInputs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*Limits)
		input string
		err   string
	}{
		{name: "own values", tweak: func(l *Limits) {
			*l = Limits{Pods: "4", RequestsCPU: "1", RequestsMemory: "1Gi", LimitsCPU: "1500m", LimitsMemory: "2Gi"}
		}},
		{name: "spaces", tweak: func(l *Limits) { l.RequestsCPU = " 1 " }},
		{name: "pods not a number", tweak: func(l *Limits) { l.Pods = "ten" }, input: "quota-pods",
			err: `input quota-pods: "ten" is not a positive whole number of pods (accepted: a number such as 10)`},
		{name: "pods zero", tweak: func(l *Limits) { l.Pods = "0" }, input: "quota-pods", err: "is not a positive whole number"},
		{name: "cpu not a quantity", tweak: func(l *Limits) { l.RequestsCPU = "2 cores" }, input: "quota-requests-cpu",
			err: `input quota-requests-cpu: "2 cores" is not a Kubernetes quantity: quantities must match the regular expression`},
		{name: "memory not a quantity", tweak: func(l *Limits) { l.LimitsMemory = "8GB!" }, input: "quota-limits-memory",
			err: "(accepted: bytes such as 8Gi or 512Mi)"},
		{name: "negative", tweak: func(l *Limits) { l.DefaultCPU = "-1" }, input: "default-limit-cpu", err: `"-1" is not more than zero`},
		{name: "requests over limits", tweak: func(l *Limits) { l.RequestsMemory = "16Gi" }, input: "quota-requests-memory",
			err: `input quota-requests-memory: "16Gi" is more than quota-limits-memory (8Gi) (accepted: at most 8Gi)`},
		{name: "default request over default limit", tweak: func(l *Limits) { l.DefaultRequestCPU = "1" }, input: "default-request-cpu",
			err: "is more than default-limit-cpu (500m)"},
		{name: "default limit over the quota", tweak: func(l *Limits) { l.DefaultMemory = "9Gi"; l.DefaultRequestMemory = "1Gi" },
			input: "default-limit-memory", err: "is more than quota-limits-memory (8Gi)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := DefaultLimits()
			tc.tweak(&l)
			err := l.Validate()
			_, qerr := l.Quota("p")
			_, lerr := l.LimitRange("p")
			if tc.err == "" {
				assert.NoError(t, err)
				assert.NoError(t, qerr)
				assert.NoError(t, lerr)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			var ie *InputError
			require.True(t, errors.As(err, &ie))
			assert.Equal(t, tc.input, ie.Input)
			assert.Equal(t, err, qerr)
			assert.Equal(t, err, lerr)
		})
	}
}
