package testcluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/ui"
)

// CancelOn passes writes to w and calls cancel once a write contains line:
// a runner's SIGTERM arriving at exactly that point of a run, for tests that
// drive an engine through a logger.
func CancelOn(w io.Writer, line string, cancel context.CancelFunc) *Canceller {
	return &Canceller{w: w, line: line, cancel: cancel}
}

// Canceller is the writer CancelOn returns.
type Canceller struct {
	w      io.Writer
	line   string
	cancel context.CancelFunc
}

// Write writes p and cancels when p contains the line.
func (c *Canceller) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if bytes.Contains(p, []byte(c.line)) {
		c.cancel()
	}
	return n, err
}

// Terminated is what a CLI run stopped with SIGTERM left.
type Terminated struct {
	Output string
	Code   int
	// Took is the time from SIGTERM to exit.
	Took time.Duration
}

// TermAfter runs the erlmcp-deploy CLI (built once per test binary) with
// args and extra environment, sends SIGTERM once its output contains line
// and settle has passed, and waits for it to exit.
func TermAfter(tb testing.TB, args, env []string, line string, settle time.Duration) Terminated {
	tb.Helper()
	cmd := exec.Command(cli(tb), args...)
	cmd.Env = append(os.Environ(), env...)
	var out ui.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the CLI: %v", err)
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return strings.Contains(out.String(), line), nil
	}); err != nil {
		_ = cmd.Process.Kill()
		tb.Fatalf("the CLI never printed %q:\n%s", line, out.String())
	}
	time.Sleep(settle)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatalf("SIGTERM: %v", err)
	}
	sent := time.Now()
	err := cmd.Wait()
	t := Terminated{Output: out.String(), Took: time.Since(sent)}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Code = exit.ExitCode()
	}
	return t
}

var cliBuild struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// removeCLI deletes the CLI built by cli (Main calls it after the tests).
func removeCLI() {
	if cliBuild.path != "" {
		_ = os.RemoveAll(filepath.Dir(cliBuild.path))
	}
}

// cli builds cmd/erlmcp-deploy once per test binary.
func cli(tb testing.TB) string {
	cliBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "erlmcp-deploy-cli-")
		if err != nil {
			cliBuild.err = err
			return
		}
		cliBuild.path = filepath.Join(dir, "erlmcp-deploy")
		cliBuild.out, cliBuild.err = exec.Command("go", "build", "-o", cliBuild.path, "github.com/org/erlmcp-deploy/cmd/erlmcp-deploy").CombinedOutput()
	})
	if cliBuild.err != nil {
		tb.Fatalf("build the CLI: %v\n%s", cliBuild.err, cliBuild.out)
	}
	return cliBuild.path
}
