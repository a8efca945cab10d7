package preview

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Admit decides whether a pull request may have a preview when existing
// other previews of the repository are up and max-previews is max (0: no
// limit); a pull request that already has one is always admitted, so its
// pushes keep updating it. The reason says why not, for the comment.
func Admit(existing, max int, alreadyHasPreview bool) (ok bool, reason string) {
	if alreadyHasPreview || max <= 0 || existing < max {
		return true, ""
	}
	return false, fmt.Sprintf("%d previews are up already, the most `max-previews` allows (%d): "+
		"this pull request gets one when another closes, or when `max-previews` is raised", existing, max)
}

// AdmitFork refuses a pull request from a fork unless allowForks: its code
// would run in the cluster with the workflow's credentials.
func AdmitFork(p PullRequest, allowForks bool) (ok bool, reason string) {
	if !p.Fork() || allowForks {
		return true, ""
	}
	from := p.HeadRepo
	if from == "" {
		from = "a deleted fork"
	}
	return false, fmt.Sprintf("pull request #%d comes from %s, not %s: a fork's code gets no preview "+
		"(it would run in the cluster with this repository's credentials) unless the workflow sets `allow-forks: true`",
		p.Number, from, p.BaseRepo)
}

// Names of the ResourceQuota and LimitRange of a preview namespace.
const (
	QuotaName      = "erlmcp-preview"
	LimitRangeName = "erlmcp-preview"
)

// Limits are the quota and container defaults of a preview namespace, as the
// action's inputs give them (quantities as strings, e.g. "500m", "4Gi").
type Limits struct {
	// Pods is the most pods of the namespace (quota-pods).
	Pods string
	// RequestsCPU and RequestsMemory cap the sum of requests (quota-requests-cpu, quota-requests-memory).
	RequestsCPU, RequestsMemory string
	// LimitsCPU and LimitsMemory cap the sum of limits (quota-limits-cpu, quota-limits-memory).
	LimitsCPU, LimitsMemory string
	// DefaultRequestCPU and DefaultRequestMemory are a container's requests when it sets none
	// (default-request-cpu, default-request-memory).
	DefaultRequestCPU, DefaultRequestMemory string
	// DefaultCPU and DefaultMemory are a container's limits when it sets none (default-limit-cpu, default-limit-memory).
	DefaultCPU, DefaultMemory string
}

// DefaultLimits are the safe defaults: 10 pods, 2 CPUs and 4Gi requested, 8
// CPUs and 8Gi of limits; a container without its own gets 100m/256Mi
// requested and 500m/512Mi as limits.
func DefaultLimits() Limits {
	return Limits{Pods: "10", RequestsCPU: "2", RequestsMemory: "4Gi", LimitsCPU: "8", LimitsMemory: "8Gi",
		DefaultRequestCPU: "100m", DefaultRequestMemory: "256Mi", DefaultCPU: "500m", DefaultMemory: "512Mi"}
}

// InputError is an input whose value cannot be used.
type InputError struct {
	Input, Value string
	// Problem says what is wrong; Accepted what would do.
	Problem, Accepted string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("input %s: %q %s (accepted: %s)", e.Input, e.Value, e.Problem, e.Accepted)
}

// field is one input of Limits.
type field struct {
	input string
	value *string
	def   string
}

func (l *Limits) fields() []field {
	d := DefaultLimits()
	return []field{
		{"quota-pods", &l.Pods, d.Pods},
		{"quota-requests-cpu", &l.RequestsCPU, d.RequestsCPU},
		{"quota-requests-memory", &l.RequestsMemory, d.RequestsMemory},
		{"quota-limits-cpu", &l.LimitsCPU, d.LimitsCPU},
		{"quota-limits-memory", &l.LimitsMemory, d.LimitsMemory},
		{"default-request-cpu", &l.DefaultRequestCPU, d.DefaultRequestCPU},
		{"default-request-memory", &l.DefaultRequestMemory, d.DefaultRequestMemory},
		{"default-limit-cpu", &l.DefaultCPU, d.DefaultCPU},
		{"default-limit-memory", &l.DefaultMemory, d.DefaultMemory},
	}
}

// parsed is Limits as quantities.
type parsed struct {
	pods                                 int64
	reqCPU, reqMem, limCPU, limMem       resource.Quantity
	defReqCPU, defReqMem, defCPU, defMem resource.Quantity
}

// parse fills empty values with the defaults and checks every value and how they fit together.
func (l Limits) parse() (parsed, error) {
	var p parsed
	q := map[string]resource.Quantity{}
	for _, f := range l.fields() {
		v := strings.TrimSpace(*f.value)
		if v == "" {
			v = f.def
		}
		if f.input == "quota-pods" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n <= 0 {
				return parsed{}, &InputError{Input: f.input, Value: v, Problem: "is not a positive whole number of pods", Accepted: "a number such as " + f.def}
			}
			p.pods = n
			continue
		}
		qty, err := resource.ParseQuantity(v)
		if err != nil {
			return parsed{}, &InputError{Input: f.input, Value: v, Problem: "is not a Kubernetes quantity: " + err.Error(), Accepted: quantityExample(f)}
		}
		if qty.Sign() <= 0 {
			return parsed{}, &InputError{Input: f.input, Value: v, Problem: "is not more than zero", Accepted: quantityExample(f)}
		}
		q[f.input] = qty
	}
	p.reqCPU, p.reqMem = q["quota-requests-cpu"], q["quota-requests-memory"]
	p.limCPU, p.limMem = q["quota-limits-cpu"], q["quota-limits-memory"]
	p.defReqCPU, p.defReqMem = q["default-request-cpu"], q["default-request-memory"]
	p.defCPU, p.defMem = q["default-limit-cpu"], q["default-limit-memory"]
	for _, c := range []struct {
		small, big       string
		smallQty, bigQty resource.Quantity
	}{
		{"quota-requests-cpu", "quota-limits-cpu", p.reqCPU, p.limCPU},
		{"quota-requests-memory", "quota-limits-memory", p.reqMem, p.limMem},
		{"default-request-cpu", "default-limit-cpu", p.defReqCPU, p.defCPU},
		{"default-request-memory", "default-limit-memory", p.defReqMem, p.defMem},
		{"default-request-cpu", "quota-requests-cpu", p.defReqCPU, p.reqCPU},
		{"default-request-memory", "quota-requests-memory", p.defReqMem, p.reqMem},
		{"default-limit-cpu", "quota-limits-cpu", p.defCPU, p.limCPU},
		{"default-limit-memory", "quota-limits-memory", p.defMem, p.limMem},
	} {
		if c.smallQty.Cmp(c.bigQty) > 0 {
			return parsed{}, &InputError{Input: c.small, Value: c.smallQty.String(),
				Problem: fmt.Sprintf("is more than %s (%s)", c.big, c.bigQty.String()), Accepted: "at most " + c.bigQty.String()}
		}
	}
	return p, nil
}

func quantityExample(f field) string {
	if strings.HasSuffix(f.input, "-cpu") {
		return "CPUs such as " + f.def + " or 250m"
	}
	return "bytes such as " + f.def + " or 512Mi"
}

// Validate checks every value (an empty one takes the default) and that
// requests do not exceed limits and defaults fit in the quota; the error is an *InputError.
func (l Limits) Validate() error {
	_, err := l.parse()
	return err
}

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{ManagedByLabel: ManagedBy}}
}

// Quota is the ResourceQuota of a preview namespace: so one preview can never starve the cluster.
func (l Limits) Quota(namespace string) (*corev1.ResourceQuota, error) {
	p, err := l.parse()
	if err != nil {
		return nil, err
	}
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: objectMeta(QuotaName, namespace),
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods:           *resource.NewQuantity(p.pods, resource.DecimalSI),
			corev1.ResourceRequestsCPU:    p.reqCPU,
			corev1.ResourceRequestsMemory: p.reqMem,
			corev1.ResourceLimitsCPU:      p.limCPU,
			corev1.ResourceLimitsMemory:   p.limMem,
		}},
	}, nil
}

// LimitRange gives a container that sets no requests or limits the defaults,
// so the quota admits it (a quota on requests refuses pods that set none).
func (l Limits) LimitRange(namespace string) (*corev1.LimitRange, error) {
	p, err := l.parse()
	if err != nil {
		return nil, err
	}
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: objectMeta(LimitRangeName, namespace),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: p.defCPU, corev1.ResourceMemory: p.defMem},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: p.defReqCPU, corev1.ResourceMemory: p.defReqMem},
		}}},
	}, nil
}
