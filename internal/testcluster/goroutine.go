package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// goroutine is a component an attached cluster runs in this process: it
// runs until stop, writing to its log file as a process would.
type goroutine struct {
	name   string
	log    string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // what run returned; read after done
}

// startDefaultLogs starts the default-logs reconciler: for a detached cluster
// as the component process command (with the cluster directory appended), for
// an attached one as a goroutine (see waitDefaultLogsReady).
func (c *Cluster) startDefaultLogs(command []string) error {
	if c.detached {
		args := append(append([]string{}, command[1:]...), c.Dir)
		if err := c.spawn(command[0], "default-logs", args...); err != nil {
			return err
		}
	} else {
		g, err := c.goroutine("default-logs", func(ctx context.Context, log *os.File) error {
			return runDefaultLogs(ctx, c.Config, c.Dir, log)
		})
		if err != nil {
			return err
		}
		c.defaultLogs = g
	}
	return nil
}

// goroutine starts run with its output in logs/<name>.log.
func (c *Cluster) goroutine(name string, run func(ctx context.Context, log *os.File) error) (*goroutine, error) {
	logPath := filepath.Join(c.Dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &goroutine{name: name, log: logPath, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		defer f.Close()
		g.err = run(ctx, f)
	}()
	return g, nil
}

// exited reports whether the goroutine has returned.
func (g *goroutine) exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// stop ends the goroutine and returns its error.
func (g *goroutine) stop() error {
	g.cancel()
	<-g.done
	if g.err != nil {
		return fmt.Errorf("%s: %w", g.name, g.err)
	}
	return nil
}
