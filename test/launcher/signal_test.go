//go:build unix

package launcher_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The runner cancels a job by signalling the process it started for the
// step (SIGINT, then SIGTERM, then SIGKILL), never its children. These tests
// start a composite step exactly as the runner does — the `run:` of the
// generated action.yml written to a file and run by
// `bash --noprofile --norc -e -o pipefail FILE` — and signal that process.

var (
	sigOnce    sync.Once
	sigFixture string // the sigfixture binary
	sigErr     error
)

// signalFixture builds testdata/sigfixture once.
func signalFixture(t *testing.T) string {
	t.Helper()
	sigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "launcher-sigfixture-")
		if err != nil {
			sigErr = err
			return
		}
		sigFixture = filepath.Join(dir, "sigfixture")
		cmd := exec.Command("go", "build", "-o", sigFixture, "./test/launcher/testdata/sigfixture")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			sigErr = fmt.Errorf("go build sigfixture: %v\n%s", err, out)
		}
	})
	require.NoError(t, sigErr)
	return sigFixture
}

// fixtureRelease is a release directory in which every action's asset is the
// sigfixture, with a matching SHA256SUMS.
func fixtureRelease(t *testing.T) string {
	t.Helper()
	bin, err := os.ReadFile(signalFixture(t))
	require.NoError(t, err)
	dir := t.TempDir()
	var sums strings.Builder
	for _, id := range []string{"deploy", "smoke", "rollback", "release-notes"} {
		name := assetName(id)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), bin, 0o755))
		fmt.Fprintf(&sums, "%s  %s\n", sha256File(t, filepath.Join(dir, name)), name)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644))
	return dir
}

// fakeGo is a directory holding a `go` whose `build` copies the sigfixture to
// its -o path, or, with FAKE_GO_BLOCK set, writes its pid there and sleeps.
func fakeGo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := `#!/bin/sh
case "$1" in
env) echo go-fake ;;
build)
	out=""
	while [ $# -gt 0 ]; do
		if [ "$1" = -o ]; then out=$2; fi
		shift
	done
	if [ -n "${FAKE_GO_BLOCK:-}" ]; then
		echo $$ >"$FAKE_GO_BLOCK"
		exec sleep 60
	fi
	cp "$FAKE_GO_BINARY" "$out" && chmod +x "$out"
	;;
*) exit 97 ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755))
	return dir
}

// stepRun is the `run:` of the composite step of actions/<id>/action.yml.
func stepRun(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "actions", id, "action.yml"))
	require.NoError(t, err)
	var f struct {
		Runs struct {
			Steps []struct {
				Shell, Run string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	require.Len(t, f.Runs.Steps, 1)
	require.Equal(t, "bash", f.Runs.Steps[0].Shell)
	return f.Runs.Steps[0].Run
}

// step is a running composite step.
type step struct {
	cmd    *exec.Cmd
	lines  chan string
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startStep runs the step of action id the way the runner runs a `shell: bash`
// step: its script in a file, `bash --noprofile --norc -e -o pipefail FILE`.
func startStep(t *testing.T, id string, env []string) *step {
	t.Helper()
	script := filepath.Join(t.TempDir(), "step.sh")
	require.NoError(t, os.WriteFile(script, []byte(stepRun(t, id)+"\n"), 0o644))
	cmd := exec.Command(bashPath, "--noprofile", "--norc", "-e", "-o", "pipefail", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(append(cleanEnv(), env...), "GITHUB_ACTION_PATH="+filepath.Join(root, "actions", id))
	// A process left behind by a shell that died would hold the pipes open.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	s := &step{cmd: cmd, lines: make(chan string, 16), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(s.stdout, sc.Text())
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitLine waits for a stdout line starting with prefix.
func (s *step) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-s.lines:
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-s.done:
			t.Fatalf("step ended before %q; stdout:\n%s\nstderr:\n%s", prefix, s.stdout, s.stderr)
		case <-deadline:
			t.Fatalf("no %q within %v; stdout:\n%s\nstderr:\n%s", prefix, timeout, s.stdout, s.stderr)
		}
	}
}

// exit waits for the step to end and returns its exit code.
func (s *step) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("step still running %v after the signal; stdout:\n%s\nstderr:\n%s", timeout, s.stdout, s.stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(s.err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return exitErr.ExitCode()
	}
	require.NoError(t, s.err)
	return 0
}

func TestCancelledStepSignalsTheBinary(t *testing.T) {
	require.NotEmpty(t, bashPath, "bash is needed")
	release := fixtureRelease(t)
	gh := newFakeGitHub(t)
	gh.addRelease(t, "v1.2.3", release, nil)
	goDir := fakeGo(t)
	signals := map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM}
	for _, tc := range []struct {
		name, id, path, signal string
	}{
		{"release asset deploy", "deploy", "release", "SIGTERM"},
		{"release asset deploy", "deploy", "release", "SIGINT"},
		{"release asset smoke", "smoke", "release", "SIGTERM"},
		{"release asset rollback", "rollback", "release", "SIGINT"},
		{"release asset release-notes", "release-notes", "release", "SIGTERM"},
		{"source build deploy", "deploy", "source", "SIGTERM"},
		{"source build rollback", "rollback", "source", "SIGINT"},
	} {
		t.Run(tc.name+" "+tc.signal, func(t *testing.T) {
			env := gh.env(t.TempDir(), "v1.2.3")
			if tc.path == "source" {
				env = append(gh.env(t.TempDir(), "main"),
					"PATH="+goDir+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_GO_BINARY="+signalFixture(t))
			}
			s := startStep(t, tc.id, env)
			ready := s.waitLine(t, "ready pid=", time.Minute)
			pid := s.cmd.Process.Pid
			assert.Equal(t, fmt.Sprintf("ready pid=%d", pid), ready,
				"the binary must be the process the runner started (bash exec'd launch.sh, which exec'd the binary)")

			require.NoError(t, s.cmd.Process.Signal(signals[tc.signal]))
			code := s.exit(t, 10*time.Second)
			assert.Equal(t, 130, code, "the binary's own cancel exit code; stderr:\n%s", s.stderr)
			want := map[string]string{"SIGINT": "interrupt", "SIGTERM": "terminated"}[tc.signal]
			assert.Contains(t, s.stdout.String(), fmt.Sprintf("got %s pid=%d", want, pid))
			if tc.path == "source" {
				assert.Contains(t, s.stderr.String(), "building "+tc.id+" from source")
			} else {
				assert.Contains(t, s.stderr.String(), "using release asset "+assetName(tc.id))
			}
		})
	}
}

func TestCancelledDuringTheSourceBuildStopsTheBuild(t *testing.T) {
	require.NotEmpty(t, bashPath, "bash is needed")
	gh := newFakeGitHub(t)
	for _, tc := range []struct {
		signal syscall.Signal
		code   int
	}{{syscall.SIGTERM, 143}, {syscall.SIGINT, 130}} {
		t.Run(tc.signal.String(), func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "build.pid")
			env := append(gh.env(t.TempDir(), "main"),
				"PATH="+fakeGo(t)+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_GO_BLOCK="+pidFile)
			s := startStep(t, "deploy", env)
			var build int
			require.Eventually(t, func() bool {
				b, err := os.ReadFile(pidFile)
				if err != nil {
					return false
				}
				_, err = fmt.Sscan(string(b), &build)
				return err == nil
			}, time.Minute, 20*time.Millisecond, "the build never started; stderr:\n%s", s.stderr)

			start := time.Now()
			require.NoError(t, s.cmd.Process.Signal(tc.signal))
			assert.Equal(t, tc.code, s.exit(t, 10*time.Second), "stderr:\n%s", s.stderr)
			assert.Less(t, time.Since(start), 5*time.Second, "the launcher must not wait for the build to end")
			assert.ErrorIs(t, syscall.Kill(build, 0), syscall.ESRCH, "the build process must be stopped, not orphaned")
			assert.Contains(t, s.stderr.String(), "cancelled (SIG")
			assert.Empty(t, s.stdout.String(), "nothing ran")
		})
	}
}
