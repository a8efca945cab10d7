package portforward_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/portforward"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

var seq atomic.Int32

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// service makes a namespace whose Service erlmcp (port 8080 → targetPort
// http) selects the pods of Deployment erlmcp (image, container port http
// 8080), and whose pods' port 8080 leads to `to`. It returns the namespace
// and the deploy identity of examples/kubernetes/rbac.yaml in it.
func service(t *testing.T, ctx context.Context, image, to string) (string, *testcluster.Identity) {
	t.Helper()
	ns := fmt.Sprintf("pf-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	remove, err := cluster.PrivateService(ctx, ns, image, to, image != "ghcr.io/acme/erlmcp:fault-neverready")
	if remove != nil {
		t.Cleanup(func() { assert.NoError(t, remove()) })
	}
	require.NoError(t, err)
	return ns, id
}

func erlmcpServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	erl := erlmcpd.New(erlmcpd.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		erl.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func open(t *testing.T, ctx context.Context, cfg *rest.Config, client kubernetes.Interface, ns, target string) (*portforward.Resolved, *portforward.Forward, error) {
	t.Helper()
	tgt, err := portforward.ParseTarget(target)
	require.NoError(t, err)
	r := &portforward.Resolver{Client: client, Namespace: ns, Wait: 2 * time.Second}
	res, err := r.Resolve(ctx, tgt)
	if err != nil {
		return nil, nil, err
	}
	f, err := portforward.Open(ctx, portforward.Options{Config: cfg, REST: client.CoreV1().RESTClient(), Namespace: ns, Pod: res.Pod, Port: res.Port})
	if err == nil {
		t.Cleanup(func() { f.Close() })
	}
	return res, f, err
}

func get(t *testing.T, addr, path string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestForwardReachesThePodBehindTheService: as the deploy identity (which may
// create pods/portforward but not get it, so the websocket upgrade is refused
// and SPDY carries the streams) and as admin (websocket), a Service port
// reaches the pod's port, which kwok hands to the local erlmcp-like server —
// many connections at once, over one upgraded connection.
func TestForwardReachesThePodBehindTheService(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t, 2*time.Minute)
	srv, hits := erlmcpServer(t)
	ns, id := service(t, ctx, "ghcr.io/acme/erlmcp:1.0.0", srv.Listener.Addr().String())
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 1)

	for _, who := range []struct {
		name     string
		cfg      *rest.Config
		client   kubernetes.Interface
		protocol string
	}{
		{"deploy identity", id.Config, id.Client, portforward.ProtocolSPDY},
		{"admin", cluster.Config, cluster.Client, portforward.ProtocolWebsocket},
	} {
		t.Run(who.name, func(t *testing.T) {
			res, f, err := open(t, ctx, who.cfg, who.client, ns, "svc/erlmcp:8080")
			require.NoError(t, err)
			assert.Equal(t, pods.Items[0].Name, res.Pod)
			assert.Equal(t, int32(8080), res.Port)
			assert.Equal(t, fmt.Sprintf("service erlmcp port 8080 (http) → targetPort http → pod %s port 8080", res.Pod), res.Via)
			assert.Equal(t, who.protocol, f.Protocol, "fallback: %s", f.Fallback)
			if who.protocol == portforward.ProtocolSPDY {
				assert.Contains(t, f.Fallback, `cannot get resource "pods/portforward"`, "the websocket GET needs `get pods/portforward`, which the identity lacks")
			}
			host, _, err := net.SplitHostPort(f.Addr)
			require.NoError(t, err)
			assert.Equal(t, "127.0.0.1", host)

			before := hits.Load()
			code, body, err := get(t, f.Addr, "/health")
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
			assert.Contains(t, body, `"status":"healthy"`)
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, _, err := get(t, f.Addr, "/health/live")
					if err == nil && code != http.StatusOK {
						err = fmt.Errorf("answered %d", code)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				assert.NoError(t, err)
			}
			assert.Equal(t, before+21, hits.Load(), "every request reached the local server through the pod's port")
			assert.NoError(t, f.Err())

			require.NoError(t, f.Close())
			_, err = net.DialTimeout("tcp", f.Addr, time.Second)
			assert.Error(t, err, "closed: nothing listens any more")
		})
	}

	// Forms a kubectl user writes reach the same pod.
	for _, target := range []string{"deployment/erlmcp:http", "pod/" + pods.Items[0].Name + ":8080", "svc/erlmcp 18080:http"} {
		res, f, err := open(t, ctx, id.Config, id.Client, ns, target)
		require.NoError(t, err, target)
		assert.Equal(t, pods.Items[0].Name, res.Pod, target)
		code, _, err := get(t, f.Addr, "/health/ready")
		require.NoError(t, err, target)
		assert.Equal(t, http.StatusOK, code, target)
	}
}

// TestForwardErrorsSayWhichStepFailed: each way a port-forward fails names
// its step: no Ready pod, a port the Service lacks, a missing object, a
// refused permission (per request: get services, list pods, create
// pods/portforward), and a pod port nothing listens on.
func TestForwardErrorsSayWhichStepFailed(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t, 3*time.Minute)

	t.Run("no Ready pod", func(t *testing.T) {
		t.Parallel()
		ns, id := service(t, ctx, "ghcr.io/acme/erlmcp:fault-neverready", "127.0.0.1:9")
		begin := time.Now()
		_, _, err := open(t, ctx, id.Config, id.Client, ns, "svc/erlmcp:8080")
		var nr *portforward.NoReadyPodError
		require.True(t, errors.As(err, &nr), "%v", err)
		assert.GreaterOrEqual(t, time.Since(begin), 2*time.Second, "waited for one")
		assert.Regexp(t, `^no Ready pod behind service erlmcp \(selector app=erlmcp\) within 2s: 1 pod\(s\): erlmcp-\S+ Running, not Ready`, err.Error())
	})

	t.Run("refused at each step", func(t *testing.T) {
		t.Parallel()
		srv, _ := erlmcpServer(t)
		ns, _ := service(t, ctx, "ghcr.io/acme/erlmcp:1.0.0", srv.Listener.Addr().String())

		_, _, err := open(t, ctx, cluster.Config, cluster.Client, ns, "svc/erlmcp:9999")
		var te *portforward.TargetError
		require.True(t, errors.As(err, &te), "%v", err)
		assert.EqualError(t, err, "svc/erlmcp:9999: service erlmcp has no port 9999; its ports are 8080 (http)")
		_, _, err = open(t, ctx, cluster.Config, cluster.Client, ns, "svc/erlmcpp:8080")
		require.True(t, errors.As(err, &te), "%v", err)
		assert.EqualError(t, err, "svc/erlmcpp:8080: service erlmcpp not found in namespace "+ns)
		_, _, err = open(t, ctx, cluster.Config, cluster.Client, ns, "pod/nope:8080")
		require.True(t, errors.As(err, &te), "%v", err)
		assert.EqualError(t, err, "pod/nope:8080: pod nope not found in namespace "+ns)

		for _, tc := range []struct {
			name  string
			rules []rbacv1.PolicyRule
			want  string
		}{
			{"nothing", nil, "get service erlmcp in namespace " + ns + ": forbidden: the identity needs `get services`"},
			{"no pods", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}}},
				"list pods in namespace " + ns + ": forbidden: the identity needs `list pods`"},
			{"no portforward", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
				"port-forward to pod erlmcp-"},
		} {
			cfg, client := identity(t, ctx, ns, "sa-"+fmt.Sprint(seq.Add(1)), tc.rules)
			_, _, err := open(t, ctx, cfg, client, ns, "svc/erlmcp:8080")
			var fe *portforward.ForbiddenError
			require.True(t, errors.As(err, &fe), "%s: %v", tc.name, err)
			assert.Contains(t, err.Error(), tc.want, tc.name)
			if tc.name == "no portforward" {
				assert.Equal(t, "`create pods/portforward`", fe.Needs)
			}
		}
	})

	t.Run("connection refused in the pod", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		ln.Close() // nothing listens there now
		ns, id := service(t, ctx, "ghcr.io/acme/erlmcp:1.0.0", closed)
		res, f, err := open(t, ctx, id.Config, id.Client, ns, "svc/erlmcp:8080")
		require.NoError(t, err, "the forward opens; the pod's side fails per connection")
		_, _, err = get(t, f.Addr, "/health")
		assert.Error(t, err)
		require.Eventually(t, func() bool { return f.Err() != nil }, 10*time.Second, 20*time.Millisecond)
		assert.Regexp(t, `^port 8080 of pod `+res.Pod+` refused the connection \(nothing listens there\?\); the kubelet said: .*connection refused`, f.Err().Error())
	})
}

// identity is a ServiceAccount of namespace granted only rules there.
func identity(t *testing.T, ctx context.Context, ns, name string, rules []rbacv1.PolicyRule) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	if rules != nil {
		_, err = cluster.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	exp := int64(3600)
	tr, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = tr.Status.Token
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	// RBAC takes a moment to see a new binding: wait until each rule is in force.
	for _, r := range rules {
		require.Eventually(t, func() bool {
			rv, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Group: r.APIGroups[0], Resource: r.Resources[0], Verb: r.Verbs[0]}}}, metav1.CreateOptions{})
			return err == nil && rv.Status.Allowed
		}, 10*time.Second, 20*time.Millisecond, "%s may %s %s", name, r.Verbs[0], r.Resources[0])
	}
	return cfg, client
}
