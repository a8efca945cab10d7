package portforward_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/org/erlmcp-deploy/internal/portforward"
)

func TestPureParseTarget(t *testing.T) {
	svc := func(name, port string) portforward.Target {
		return portforward.Target{Kind: portforward.KindService, Name: name, Port: port}
	}
	for _, tc := range []struct {
		in   string
		want portforward.Target
		err  string
	}{
		{in: "svc/erlmcp:8080", want: svc("erlmcp", "8080")},
		{in: "  service/erlmcp:http ", want: svc("erlmcp", "http")},
		{in: "services/erlmcp:8080", want: svc("erlmcp", "8080")},
		{in: "SVC/erlmcp:8080", want: svc("erlmcp", "8080")},
		{in: "deployment/erlmcp:8080", want: portforward.Target{Kind: portforward.KindDeployment, Name: "erlmcp", Port: "8080"}},
		{in: "deploy/erlmcp:http", want: portforward.Target{Kind: portforward.KindDeployment, Name: "erlmcp", Port: "http"}},
		{in: "pod/erlmcp-7d9c-x2k:8080", want: portforward.Target{Kind: portforward.KindPod, Name: "erlmcp-7d9c-x2k", Port: "8080"}},
		{in: "po/erlmcp.0:8080", want: portforward.Target{Kind: portforward.KindPod, Name: "erlmcp.0", Port: "8080"}},
		// kubectl's arguments, pasted: the local port is ours to choose.
		{in: "svc/erlmcp 8080:8080", want: svc("erlmcp", "8080")},
		{in: "svc/erlmcp 9000:http", want: svc("erlmcp", "http")},
		{in: "svc/erlmcp :8080", want: svc("erlmcp", "8080")},
		{in: "svc/erlmcp 8080", want: svc("erlmcp", "8080")},

		{in: "", err: "is empty"},
		{in: "svc/erlmcp", err: `"svc/erlmcp" names no port`},
		{in: "erlmcp:8080", err: `does not say what "erlmcp" is: write svc/erlmcp, deployment/erlmcp or pod/erlmcp`},
		{in: "statefulset/erlmcp:8080", err: `cannot forward to a "statefulset"`},
		{in: "svc/:8080", err: "names no service"},
		{in: "svc/Erlmcp:8080", err: `"Erlmcp" is not a valid service name`},
		{in: "svc/1erlmcp:8080", err: `"1erlmcp" is not a valid service name`}, // a Service name is a DNS-1035 label
		{in: "pod/erl_mcp:8080", err: `"erl_mcp" is not a valid pod name`},
		{in: "svc/erlmcp:0", err: `port "0" is not a number from 1 to 65535`},
		{in: "svc/erlmcp:70000", err: `port "70000" is not a number from 1 to 65535`},
		{in: "svc/erlmcp:8080x", err: `port "8080x" is not a number from 1 to 65535`},
		{in: "svc/erlmcp:", err: "no port"},
		{in: "svc/erlmcp:Http_Port", err: `port "Http_Port" is neither a number nor a port name`},
		{in: "svc/erlmcp x:8080", err: `local port "x" is not a port number`},
		{in: "svc/erlmcp 8080 9090", err: "has 3 words"},
	} {
		got, err := portforward.ParseTarget(tc.in)
		if tc.err != "" {
			require.Error(t, err, "%q", tc.in)
			assert.Contains(t, err.Error(), tc.err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
	assert.Equal(t, "svc/erlmcp:8080", svc("erlmcp", "8080").String())
}

func pod(name string, created time.Time, phase corev1.PodPhase, ready bool, ports ...corev1.ContainerPort) corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Ports: ports}}},
		Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(created)}}},
	}
}

func TestPurePickPodTakesTheNewestReadyOne(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	terminating := pod("d-terminating", t0.Add(3*time.Minute), corev1.PodRunning, true)
	terminating.DeletionTimestamp = &metav1.Time{Time: t0.Add(4 * time.Minute)}
	pods := []corev1.Pod{
		pod("a-old", t0, corev1.PodRunning, true),
		pod("b-new", t0.Add(time.Minute), corev1.PodRunning, true),
		pod("c-newest-unready", t0.Add(2*time.Minute), corev1.PodRunning, false),
		terminating,
		pod("e-pending", t0.Add(5*time.Minute), corev1.PodPending, false),
	}
	got := portforward.PickPod(pods)
	require.NotNil(t, got)
	assert.Equal(t, "b-new", got.Name)

	twins := []corev1.Pod{pod("z", t0, corev1.PodRunning, true), pod("y", t0, corev1.PodRunning, true)}
	assert.Equal(t, "y", portforward.PickPod(twins).Name, "as new: by name")

	assert.Nil(t, portforward.PickPod(pods[2:]), "no Ready pod")
	assert.Nil(t, portforward.PickPod(nil))
}

func TestPureNotReadySaysWhyPodByPod(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	unready := pod("erlmcp-b", t0, corev1.PodRunning, false)
	unready.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "erlmcp", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	pending := pod("erlmcp-a", t0, corev1.PodPending, false)
	pending.Status.Conditions = append(pending.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"})
	quiet := pod("erlmcp-c", t0, corev1.PodRunning, false)
	got := portforward.NotReady([]corev1.Pod{unready, quiet, pending}, t0.Add(90*time.Second))
	assert.Equal(t, "3 pod(s): erlmcp-a Pending (Unschedulable); erlmcp-b Running, not Ready for 1m30s (erlmcp: CrashLoopBackOff); erlmcp-c Running, not Ready for 1m30s", got)
	assert.Equal(t, "no pod matches", portforward.NotReady(nil, t0))
}

func TestPureServicePortAndTargetPort(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
		{Name: "http", Port: 8080, TargetPort: intstr.FromString("web")},
		{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9568)},
		{Name: "plain", Port: 7000},
		{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
	}}}
	p := pod("erlmcp-x", time.Now(), corev1.PodRunning, true, corev1.ContainerPort{Name: "web", ContainerPort: 4000})
	target := func(port string) portforward.Target {
		return portforward.Target{Kind: portforward.KindService, Name: "erlmcp", Port: port}
	}
	for _, tc := range []struct {
		port string
		want int32
	}{{"8080", 4000}, {"http", 4000}, {"9100", 9568}, {"metrics", 9568}, {"7000", 7000}} {
		sp, err := portforward.ServicePort(svc, target(tc.port))
		require.NoError(t, err, tc.port)
		got, err := portforward.ServiceTargetPort(sp, &p, target(tc.port))
		require.NoError(t, err, tc.port)
		assert.Equal(t, tc.want, got, tc.port)
	}

	_, err := portforward.ServicePort(svc, target("9999"))
	var te *portforward.TargetError
	require.True(t, errors.As(err, &te), "%v", err)
	assert.EqualError(t, err, "svc/erlmcp:9999: service erlmcp has no port 9999; its ports are 8080 (http), 9100 (metrics), 7000 (plain), 53 (dns)")
	_, err = portforward.ServicePort(svc, target("dns"))
	assert.ErrorContains(t, err, "port dns of service erlmcp is UDP; a port-forward carries TCP only")

	sp, _ := portforward.ServicePort(svc, target("http"))
	other := pod("erlmcp-y", time.Now(), corev1.PodRunning, true, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	_, err = portforward.ServiceTargetPort(sp, &other, target("http"))
	assert.EqualError(t, err, `svc/erlmcp:http: service port 8080 sends to targetPort "web", which no container of pod erlmcp-y declares; its ports are 8080 (http)`)
}

func TestPureContainerPort(t *testing.T) {
	p := pod("erlmcp-x", time.Now(), corev1.PodRunning, true, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	tgt := func(port string) portforward.Target {
		return portforward.Target{Kind: portforward.KindPod, Name: "erlmcp-x", Port: port}
	}
	got, err := portforward.ContainerPort(&p, tgt("http"))
	require.NoError(t, err)
	assert.Equal(t, int32(8080), got)
	got, err = portforward.ContainerPort(&p, tgt("9000"))
	require.NoError(t, err)
	assert.Equal(t, int32(9000), got, "a number need not be declared")
	_, err = portforward.ContainerPort(&p, tgt("metrics"))
	assert.EqualError(t, err, `pod/erlmcp-x:metrics: no container of pod erlmcp-x has a port named "metrics"; its ports are 8080 (http)`)
}
