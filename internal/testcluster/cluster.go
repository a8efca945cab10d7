// Package testcluster runs a real Kubernetes control plane for tests and the
// demo: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
// built from Go modules (see EnsureBinaries) and started on free loopback ports.
//
// Pods are simulated by kwok with the stages in stages.yaml, where the image
// tag chooses the pod's fate (fault-imagepull, fault-crashloop, ...). Tests use
// Start(t) or a shared cluster from Main; `clusterctl up` keeps one running.
package testcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
)

// Stages is the kwok stage configuration (see the comment at its top for the image-tag contract).
//
//go:embed stages.yaml
var Stages string

// Options configure a cluster.
type Options struct {
	// Nodes is the number of kwok nodes (default 3).
	Nodes int
	// Dir holds data, certificates and logs; empty means a temporary directory
	// that Stop removes.
	Dir string
	// Detach lets the processes outlive this one (for `clusterctl up`).
	Detach bool
	// DefaultLogsCommand is, for a detached cluster, the command line of a
	// process that calls RunDefaultLogs (clusterctl gives itself and its
	// default-logs subcommand); New appends the cluster directory and runs it
	// as a component. An attached cluster runs RunDefaultLogs' loop as a goroutine.
	DefaultLogsCommand []string
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds data, certificates, kubeconfigs and component logs.
	Dir string
	// Kubeconfig is the path of the admin kubeconfig (group system:masters).
	Kubeconfig string
	// Server is the apiserver URL.
	Server string
	// Config is the admin REST config.
	Config *rest.Config
	// Client is the admin clientset.
	Client kubernetes.Interface

	caPEM    []byte
	ownsDir  bool
	detached bool
	procs    []*process
	// defaultLogs is the goroutine keeping the default logs (attached clusters).
	defaultLogs *goroutine
	stopOnce    sync.Once
	stopErr     error
}

// process is one started component.
type process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
	cmd  *exec.Cmd
	done chan struct{}
}

const adminUser = "erlmcp-admin"

// New starts a cluster and returns when the API is ready, the nodes are Ready
// and untainted, and the controllers work. On error nothing is left running.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Detach && len(opts.DefaultLogsCommand) == 0 {
		return nil, errors.New("a detached cluster needs Options.DefaultLogsCommand")
	}
	bins, err := EnsureBinaries(ctx, opts.Log)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ { // free ports can be taken by a parallel package
		c, err := start(ctx, bins, opts)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(opts.Log, "cluster start attempt %d failed: %v\n", attempt, err)
	}
	return nil, lastErr
}

func start(ctx context.Context, bins Binaries, opts Options) (c *Cluster, err error) {
	began := time.Now()
	c = &Cluster{Dir: opts.Dir, detached: opts.Detach}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "erlmcp-cluster-"); err != nil {
			return nil, err
		}
		c.ownsDir = true
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	started := c // the returns below set c to nil
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	p, err := newPKI(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	c.caPEM = p.CAPEM
	token := randomHex(24)
	tokenFile := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(fmt.Sprintf("%s,%s,%s-uid,\"system:masters\"\n", token, adminUser, adminUser)), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdClient := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	etcdPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	if err := c.spawn(bins.Etcd, "etcd",
		"--name=default", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdClient, "--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=default="+etcdPeer, "--unsafe-no-fsync", "--log-level=warn"); err != nil {
		return nil, err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdClient+"/health", http.DefaultClient, 30*time.Second); err != nil {
		return nil, err
	}
	if err := c.spawn(bins.KubeAPIServer, "kube-apiserver",
		"--etcd-servers="+etcdClient, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]), "--cert-dir="+filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file="+p.ServingCert, "--tls-private-key-file="+p.ServingKey, "--client-ca-file="+p.CACert,
		"--token-auth-file="+tokenFile, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.SAPublic, "--service-account-signing-key-file="+p.SAPrivate,
		"--service-cluster-ip-range=10.96.0.0/16", "--disable-admission-plugins=ServiceAccount",
		"--endpoint-reconciler-type=none", "--allow-privileged=true",
		"--kubelet-certificate-authority="+p.CACert, "--kubelet-preferred-address-types=InternalIP"); err != nil {
		return nil, err
	}
	c.Config = &rest.Config{Host: c.Server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: p.CAPEM}, QPS: 100, Burst: 200}
	if err := c.waitHTTP(ctx, "kube-apiserver", c.Server+"/readyz", c.httpClient(token), 90*time.Second); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := WriteKubeconfig(c.Kubeconfig, c.Server, c.caPEM, adminUser, token, ""); err != nil {
		return nil, err
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	stages, err := writeKwokConfig(c.Dir)
	if err != nil {
		return nil, err
	}
	if err := c.createKwokCRDs(ctx); err != nil { // they get established while the controllers start
		return nil, err
	}
	if err := c.spawn(bins.KubeControllerManager, "kube-controller-manager",
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--controllers=deployment,replicaset,statefulset,daemonset,job,horizontalpodautoscaling,garbagecollector,namespace,serviceaccount,serviceaccount-token,disruption,resourcequota",
		"--horizontal-pod-autoscaler-sync-period=2s",
		"--service-account-private-key-file="+p.SAPrivate, "--root-ca-file="+p.CACert,
		"--kube-api-qps=100", "--kube-api-burst=200"); err != nil {
		return nil, err
	}
	if err := c.spawn(bins.KubeScheduler, "kube-scheduler",
		"--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--secure-port=0"); err != nil {
		return nil, err
	}
	if err := c.waitKwokCRDs(ctx); err != nil {
		return nil, err
	}
	if err := c.startDefaultLogs(opts.DefaultLogsCommand); err != nil {
		return nil, err
	}
	// kwok also plays the kubelet's API (pod logs, port-forward) for every node at 127.0.0.1:ports[3].
	if err := c.spawn(bins.Kwok, "kwok",
		"--kubeconfig="+c.Kubeconfig, "--manage-all-nodes=true", "--config="+stages, "--enable-crds="+kwokCRDs,
		"--node-ip=127.0.0.1", "--node-port="+strconv.Itoa(ports[3]), "--server-address=127.0.0.1:"+strconv.Itoa(ports[3]),
		"--tls-cert-file="+p.ServingCert, "--tls-private-key-file="+p.ServingKey); err != nil {
		return nil, err
	}
	if err := c.addNodes(ctx, opts.Nodes); err != nil {
		return nil, err
	}
	if err := c.waitControllers(ctx); err != nil {
		return nil, err
	}
	if err := c.waitDefaultLogsReady(ctx); err != nil { // before any pod
		return nil, err
	}
	if c.detached {
		if err := c.saveState(); err != nil {
			return nil, err
		}
		for _, pr := range c.procs {
			pr.cmd.Process.Release()
		}
	}
	fmt.Fprintf(opts.Log, "cluster ready at %s in %s (%d kwok nodes)\n", c.Server, time.Since(began).Round(10*time.Millisecond), opts.Nodes)
	return c, nil
}

// spawn starts one component with its output in logs/<name>.log.
func (c *Cluster) spawn(bin, name string, args ...string) error {
	pr, err := c.start(bin, name, args)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, pr)
	return nil
}

func (c *Cluster) start(bin, name string, args []string) (*process, error) {
	logPath := filepath.Join(c.Dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr(c.detached)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pr := &process{Name: name, PID: cmd.Process.Pid, Log: logPath, cmd: cmd, done: make(chan struct{})}
	if !c.detached {
		go func() { cmd.Wait(); close(pr.done) }()
	}
	return pr, nil
}

// Crash kills a component (SIGKILL, as a crashed process), keeps it down for
// down, then starts it again with the same flags and waits until it answers.
// It is for fault-injection tests of an attached cluster.
func (c *Cluster) Crash(ctx context.Context, name string, down time.Duration) error {
	for i, pr := range c.procs {
		if pr.Name != name {
			continue
		}
		if err := signalGroup(pr.PID, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill %s: %w", name, err)
		}
		<-pr.done
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(down):
		}
		next, err := c.start(pr.cmd.Path, name, pr.cmd.Args[1:])
		if err != nil {
			return err
		}
		c.procs[i] = next
		if name == "kube-apiserver" || name == "etcd" {
			return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				return err == nil, nil
			})
		}
		return nil
	}
	return fmt.Errorf("no component %q", name)
}

// exited reports a component that is no longer running.
func (c *Cluster) exited() *process {
	for _, pr := range c.procs {
		if pr.done == nil {
			if !ProcessAlive(pr.PID) {
				return pr
			}
			continue
		}
		select {
		case <-pr.done:
			return pr
		default:
		}
	}
	return nil
}

func (c *Cluster) componentDied() error {
	if pr := c.exited(); pr != nil {
		return fmt.Errorf("%s exited; last lines of %s:\n%s", pr.Name, pr.Log, tail(pr.Log, 30))
	}
	if g := c.defaultLogs; g != nil && g.exited() {
		return fmt.Errorf("%s ended: %v; last lines of %s:\n%s", g.name, g.err, g.log, tail(g.log, 30))
	}
	return nil
}

func (c *Cluster) waitHTTP(ctx context.Context, name, url string, client *http.Client, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.componentDied(); err != nil {
			return false, err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %s at %s: %w (last answer: %s)", name, url, err, last)
	}
	return nil
}

func (c *Cluster) httpClient(token string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &bearer{token: token, rt: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
	}
}

type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

// addNodes creates kwok nodes and removes the not-ready taint that admission
// adds at creation (no node-lifecycle controller runs to remove it).
func (c *Cluster) addNodes(ctx context.Context, n int) error {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("kwok-node-%d", i)
		if err := c.createNode(ctx, names[i], fmt.Sprintf("zone-%c", 'a'+i%3), nil); err != nil {
			return err
		}
	}
	return c.waitNodesReady(ctx, names)
}

// createNode creates a node that kwok manages (all nodes are: --manage-all-nodes).
func (c *Cluster) createNode(ctx context.Context, name, zone string, annotations map[string]string) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": zone},
	}}
	for k, v := range annotations {
		node.Annotations[k] = v
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	return nil
}

// waitNodesReady removes the admission taints of the named nodes and waits
// until kwok has made them Ready.
func (c *Cluster) waitNodesReady(ctx context.Context, names []string) error {
	var notReady []string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.componentDied(); err != nil {
			return false, err
		}
		notReady = notReady[:0]
		for _, name := range names {
			nd, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				notReady = append(notReady, name)
				continue
			}
			if len(nd.Spec.Taints) > 0 {
				if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					cur, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
					if err != nil {
						return err
					}
					cur.Spec.Taints = nil
					_, err = c.Client.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{})
					return err
				}); err != nil {
					return false, fmt.Errorf("untaint node %s: %w", name, err)
				}
				notReady = append(notReady, name)
				continue
			}
			ready := false
			for _, cond := range nd.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if !ready {
				notReady = append(notReady, name)
			}
		}
		return len(notReady) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("wait for nodes %v to be Ready: %w", notReady, err)
	}
	return nil
}

// waitControllers waits until the controller-manager has created the default
// ServiceAccount: proof that it is connected and working.
func (c *Cluster) waitControllers(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.componentDied(); err != nil {
			return false, err
		}
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for kube-controller-manager (default ServiceAccount): %w", err)
	}
	return nil
}

// Stop ends every component this cluster started (and only those) and
// removes its directory when it made it. It is safe to call twice.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		if c.defaultLogs != nil {
			errs = append(errs, c.defaultLogs.stop())
		}
		for i := len(c.procs) - 1; i >= 0; i-- {
			if err := stopProcess(c.procs[i]); err != nil {
				errs = append(errs, err)
			}
		}
		if c.ownsDir {
			errs = append(errs, os.RemoveAll(c.Dir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

func stopProcess(pr *process) error {
	exited := func() bool {
		if pr.done != nil {
			select {
			case <-pr.done:
				return true
			default:
				return false
			}
		}
		return !ProcessAlive(pr.PID)
	}
	if exited() {
		return nil
	}
	_ = signalGroup(pr.PID, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if exited() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := signalGroup(pr.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", pr.Name, pr.PID, err)
	}
	return nil
}

// Logs returns the last lines of each component's log, for failure reports.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, pr := range c.procs {
		fmt.Fprintf(&b, "==> %s (%s)\n%s\n", pr.Name, pr.Log, tail(pr.Log, lines))
	}
	if g := c.defaultLogs; g != nil {
		fmt.Fprintf(&b, "==> %s (goroutine, %s)\n%s\n", g.name, g.log, tail(g.log, lines))
	}
	return b.String()
}

// WriteKubeconfig writes a kubeconfig for a token identity, with the given namespace as default.
func WriteKubeconfig(path, server string, caPEM []byte, user, token, namespace string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["erlmcp-local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["erlmcp-local"] = &clientcmdapi.Context{Cluster: "erlmcp-local", AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = "erlmcp-local"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// state is what a detached cluster leaves in Dir for Attach and StopDir.
type state struct {
	Server     string     `json:"server"`
	Kubeconfig string     `json:"kubeconfig"`
	Procs      []*process `json:"processes"`
}

func (c *Cluster) saveState() error {
	b, err := json.MarshalIndent(state{Server: c.Server, Kubeconfig: c.Kubeconfig, Procs: c.procs}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "state.json"), b, 0o600)
}

// PIDs returns the process id of each component by name.
func (c *Cluster) PIDs() map[string]int {
	m := make(map[string]int, len(c.procs))
	for _, pr := range c.procs {
		m[pr.Name] = pr.PID
	}
	return m
}
