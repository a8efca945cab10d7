package diagnose_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// crashReport is an Erlang crash report on one line of exactly 3 MiB.
var crashReport = func() string {
	head := "=CRASH REPORT==== crasher: initial call: erlmcp_server:init/1 error: {badmatch,<<\""
	return head + strings.Repeat("A", 3<<20-len(head))
}()

// logServer is the part of the API server diagnose.Collect reads: the log of
// one pod (the previous instance's: a 3 MiB line, then ordinary ones) and the
// events of the namespace (none).
func logServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/namespaces/erlmcp/pods/erlmcp-7d9f-x2k4q/log", func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "true", r.URL.Query().Get("previous"))
		body := fmt.Sprintf("booting erlmcp\n%s\nlast line before the exit\n", crashReport)
		if limit := r.URL.Query().Get("limitBytes"); limit != "" { // the crashed instance's start, for its cause
			assert.Equal(t, fmt.Sprint(bootcause.MaxRead), limit)
			fmt.Fprint(w, body[:bootcause.MaxRead])
			return
		}
		if r.URL.Query().Get("tailLines") == "200" { // and its end
			fmt.Fprint(w, body)
			return
		}
		assert.Equal(t, fmt.Sprint(diagnose.LogLines), r.URL.Query().Get("tailLines"))
		fmt.Fprint(w, body)
	})
	mux.HandleFunc("GET /api/v1/namespaces/erlmcp/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(corev1.EventList{TypeMeta: metav1.TypeMeta{Kind: "EventList", APIVersion: "v1"}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	return client
}

func crashingPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp-7d9f-x2k4q", Namespace: "erlmcp", UID: "pod-uid"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.2.3", RestartCount: 3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
		}}},
	}
}

// TestA3MiBLogLineIsCappedInTheLogAndTheSummary: a crash report of one 3 MiB
// line reaches the job log and the step summary as its first 4 KiB and a
// note, and the summary file stays under GitHub's 1 MiB — also when the
// summary holds 3 MiB of other text.
func TestA3MiBLogLineIsCappedInTheLogAndTheSummary(t *testing.T) {
	client := logServer(t)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", Namespace: "erlmcp", UID: "deploy-uid"}}
	pod := crashingPod()
	rep := diagnose.Collect(context.Background(), client, d, nil, []string{pod.Name}, []*corev1.Pod{pod})
	require.Empty(t, rep.Errors)
	require.Len(t, rep.Pods, 1)
	logs := rep.Pods[0].Containers[0].Logs
	marker := fmt.Sprintf(" … (%d bytes cut)", 3<<20-diagnose.MaxLogLine)
	assert.Equal(t, "booting erlmcp\n"+crashReport[:diagnose.MaxLogLine]+marker+"\nlast line before the exit", logs)

	for _, tc := range []struct {
		name  string
		extra string // more summary text
	}{{"diagnostics only", ""}, {"and a 3 MiB failure reason", strings.Repeat("r", 3<<20)}} {
		t.Run(tc.name, func(t *testing.T) {
			s := steptest.Run(t, actionspec.Deploy(), func(ctx context.Context, rt *ghaction.Runtime) error {
				rt.Infof("%s", rep.Text())
				rt.Summary().Heading(2, "❌ Deploy of ghcr.io/acme/erlmcp:1.2.3 to production rolled back")
				if tc.extra != "" {
					rt.Summary().KeyValues([][2]string{{"Reason", tc.extra}})
				}
				rep.Markdown(rt.Summary())
				return nil
			}, map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.2.3"}, nil)
			require.Equal(t, 0, s.Code)
			longest := 0
			for _, l := range strings.Split(s.Log, "\n") {
				longest = max(longest, len(l))
			}
			assert.LessOrEqual(t, longest, diagnose.MaxLogLine+64, "no log line is longer than the cap and its note")
			assert.Contains(t, s.Log, marker)
			assert.Contains(t, s.Log, "last line before the exit")

			assert.Less(t, len(s.Summary), 1<<20, "GitHub refuses a step summary over 1 MiB")
			assert.LessOrEqual(t, len(s.Summary), summary.MaxBytes)
			if tc.extra == "" {
				assert.Contains(t, s.Summary, marker)
				assert.Contains(t, s.Summary, "last line before the exit")
				assert.NotContains(t, s.Summary, "This summary was cut")
			} else {
				assert.Contains(t, s.Summary, "> ⚠️ **This summary was cut** at ")
			}
			t.Logf("log %d bytes (longest line %d), summary %d bytes", len(s.Log), longest, len(s.Summary))
		})
	}
}
