// Package portforward reaches a pod's port through the Kubernetes API server,
// as `kubectl port-forward` does: it resolves a Service, Deployment or Pod to
// one Ready pod and a container port (target.go, resolve.go), then opens a
// port-forward to it over the API server's websocket or SPDY streaming
// protocol and listens on 127.0.0.1:<free port> (forward.go).
//
// It needs only what the kubeconfig grants: no route to the pod network, so a
// runner that can reach a private cluster's API server can smoke-test the
// service behind it.
package portforward

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kinds of target.
const (
	KindService    = "service"
	KindPod        = "pod"
	KindDeployment = "deployment"
)

// Accepted describes the accepted forms of a target, for input errors.
const Accepted = "svc/<name>:<port>, deployment/<name>:<port> or pod/<name>:<port>, where <port> is a port " +
	"number or name (of the Service, else of the pod's containers); kubectl's `svc/<name> [<local>:]<port>` is " +
	"accepted too (the local side is always 127.0.0.1 on a free port)"

// kinds maps what kubectl accepts to our kinds.
var kinds = map[string]string{
	"svc": KindService, "service": KindService, "services": KindService,
	"po": KindPod, "pod": KindPod, "pods": KindPod,
	"deploy": KindDeployment, "deployment": KindDeployment, "deployments": KindDeployment,
}

// Target is what to forward to: a Service, Deployment or Pod, and a port of it.
type Target struct {
	Kind string
	Name string
	// Port is a port number or an IANA port name, as given.
	Port string
}

// String renders the target in the input's own form, e.g. svc/erlmcp:8080.
func (t Target) String() string {
	short := map[string]string{KindService: "svc", KindPod: "pod", KindDeployment: "deployment"}[t.Kind]
	return short + "/" + t.Name + ":" + t.Port
}

// ParseTarget parses `svc/erlmcp:8080` (also `deployment/…`, `pod/…`, and
// kubectl's arguments `svc/erlmcp 8080:8080`, `svc/erlmcp :8080`,
// `svc/erlmcp 8080`). The error says what is wrong, not the accepted forms
// (see Accepted).
func ParseTarget(s string) (Target, error) {
	fields := strings.Fields(s)
	var res, port string
	switch len(fields) {
	case 0:
		return Target{}, fmt.Errorf("is empty")
	case 1:
		i := strings.LastIndex(fields[0], ":")
		if i < 0 {
			return Target{}, fmt.Errorf("%q names no port", s)
		}
		res, port = fields[0][:i], fields[0][i+1:]
	case 2:
		res, port = fields[0], fields[1]
		if local, remote, ok := strings.Cut(port, ":"); ok {
			if local != "" {
				if _, err := strconv.ParseUint(local, 10, 16); err != nil {
					return Target{}, fmt.Errorf("%q: local port %q is not a port number", s, local)
				}
			}
			port = remote
		}
	default:
		return Target{}, fmt.Errorf("%q has %d words; forward one port of one resource", s, len(fields))
	}
	kind, name, ok := strings.Cut(res, "/")
	if !ok {
		return Target{}, fmt.Errorf("%q does not say what %q is: write svc/%s, deployment/%s or pod/%s", s, res, res, res, res)
	}
	t := Target{Kind: kinds[strings.ToLower(kind)], Name: name, Port: port}
	if t.Kind == "" {
		return Target{}, fmt.Errorf("%q: cannot forward to a %q; only to a Service (svc), a Deployment or a Pod", s, kind)
	}
	valid := validation.IsDNS1123Subdomain
	if t.Kind == KindService {
		valid = validation.IsDNS1035Label
	}
	if name == "" {
		return Target{}, fmt.Errorf("%q names no %s", s, t.Kind)
	}
	if errs := valid(name); len(errs) > 0 {
		return Target{}, fmt.Errorf("%q is not a valid %s name: %s", name, t.Kind, strings.Join(errs, "; "))
	}
	if err := checkPort(port); err != nil {
		return Target{}, fmt.Errorf("%q: %w", s, err)
	}
	return t, nil
}

func checkPort(p string) error {
	if p == "" {
		return fmt.Errorf("no port")
	}
	if p[0] >= '0' && p[0] <= '9' {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
		return nil
	}
	if errs := validation.IsValidPortName(p); len(errs) > 0 {
		return fmt.Errorf("port %q is neither a number nor a port name: %s", p, strings.Join(errs, "; "))
	}
	return nil
}

// TargetError is a target that names something the cluster does not have:
// no such Service, Deployment, Pod or port. It is the caller's input that is
// wrong, not the service.
type TargetError struct {
	Target Target
	Reason string
}

func (e *TargetError) Error() string { return e.Target.String() + ": " + e.Reason }

// ServicePort finds the port of svc that port (a number or a name) names.
func ServicePort(svc *corev1.Service, t Target) (corev1.ServicePort, error) {
	for _, p := range svc.Spec.Ports {
		if p.Name == t.Port || strconv.Itoa(int(p.Port)) == t.Port {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				return p, &TargetError{Target: t, Reason: fmt.Sprintf("port %s of service %s is %s; a port-forward carries TCP only", t.Port, svc.Name, p.Protocol)}
			}
			return p, nil
		}
	}
	return corev1.ServicePort{}, &TargetError{Target: t, Reason: fmt.Sprintf("service %s has no port %s; its ports are %s", svc.Name, t.Port, servicePorts(svc))}
}

func servicePorts(svc *corev1.Service) string {
	if len(svc.Spec.Ports) == 0 {
		return "(none)"
	}
	var out []string
	for _, p := range svc.Spec.Ports {
		s := strconv.Itoa(int(p.Port))
		if p.Name != "" {
			s += " (" + p.Name + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// ServiceTargetPort is the pod port a Service port sends to, as kube-proxy
// does: targetPort as a number, a named container port of pod, or (unset) the
// Service port itself.
func ServiceTargetPort(sp corev1.ServicePort, pod *corev1.Pod, t Target) (int32, error) {
	switch {
	case sp.TargetPort.IntValue() > 0:
		return int32(sp.TargetPort.IntValue()), nil
	case sp.TargetPort.StrVal != "":
		if n, ok := namedPort(pod, sp.TargetPort.StrVal); ok {
			return n, nil
		}
		return 0, &TargetError{Target: t, Reason: fmt.Sprintf("service port %d sends to targetPort %q, which no container of pod %s declares; its ports are %s",
			sp.Port, sp.TargetPort.StrVal, pod.Name, containerPorts(pod))}
	}
	return sp.Port, nil
}

// ContainerPort is the pod port that t.Port names: a number as is (a
// container need not declare it), a name as a declared container port.
func ContainerPort(pod *corev1.Pod, t Target) (int32, error) {
	if n, err := strconv.Atoi(t.Port); err == nil {
		return int32(n), nil
	}
	if n, ok := namedPort(pod, t.Port); ok {
		return n, nil
	}
	return 0, &TargetError{Target: t, Reason: fmt.Sprintf("no container of pod %s has a port named %q; its ports are %s", pod.Name, t.Port, containerPorts(pod))}
}

func namedPort(pod *corev1.Pod, name string) (int32, bool) {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func containerPorts(pod *corev1.Pod) string {
	var out []string
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			s := strconv.Itoa(int(p.ContainerPort))
			if p.Name != "" {
				s += " (" + p.Name + ")"
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "(none declared)"
	}
	return strings.Join(out, ", ")
}

// Ready reports whether a pod can take the forward: Running, Ready, and not
// being deleted.
func Ready(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PickPod chooses the pod to forward to: the newest Ready one (most likely
// running the release just deployed), by name when two are as new; nil when
// none is Ready.
func PickPod(pods []corev1.Pod) *corev1.Pod {
	var best *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if !Ready(p) {
			continue
		}
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(p.CreationTimestamp.Equal(&best.CreationTimestamp) && p.Name < best.Name) {
			best = p
		}
	}
	return best
}

// NotReady says, pod by pod, why none of pods can take the forward, e.g.
// "erlmcp-7d9-x2k Running, not Ready (containers not ready: erlmcp)".
func NotReady(pods []corev1.Pod, now time.Time) string {
	if len(pods) == 0 {
		return "no pod matches"
	}
	sorted := append([]corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	const most = 5
	var out []string
	for i, p := range sorted {
		if i == most {
			out = append(out, fmt.Sprintf("and %d more", len(sorted)-most))
			break
		}
		out = append(out, p.Name+" "+podState(&p, now))
	}
	return fmt.Sprintf("%d pod(s): %s", len(pods), strings.Join(out, "; "))
}

func podState(p *corev1.Pod, now time.Time) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	phase := string(p.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	if p.Status.Phase != corev1.PodRunning {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
				return phase + " (" + c.Reason + ")"
			}
		}
		if w := waiting(p); w != "" {
			return phase + " (" + w + ")"
		}
		return phase
	}
	for _, c := range p.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return "Running, Ready"
		}
		why := c.Message
		if w := waiting(p); w != "" {
			why = w
		}
		if why == "" {
			why = c.Reason
		}
		since := ""
		if !c.LastTransitionTime.IsZero() {
			since = fmt.Sprintf(" for %s", now.Sub(c.LastTransitionTime.Time).Round(time.Second))
		}
		if why != "" {
			return fmt.Sprintf("Running, not Ready%s (%s)", since, why)
		}
		return "Running, not Ready" + since
	}
	return "Running, not Ready"
}

func waiting(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
			return s.Name + ": " + s.State.Waiting.Reason
		}
	}
	return ""
}
