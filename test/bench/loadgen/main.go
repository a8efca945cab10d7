// Command loadgen runs the load gate (internal/loadgate) once, in a process
// of its own, and prints its result as JSON on stdout. The bench runs it as
// the load gate's peer process, next to wrk, against a server in a third
// process:
//
//	loadgen -url http://127.0.0.1:43125/health/live -c 10 -d 5s [-cpuprofile FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/org/erlmcp-deploy/internal/loadgate"
)

func main() {
	url := flag.String("url", "", "URL to load")
	conc := flag.Int("c", loadgate.DefaultConcurrency, "connections (closed-loop workers)")
	dur := flag.Duration("d", 5*time.Second, "how long requests are started")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if err := run(*url, *conc, *dur, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(url string, conc int, dur time.Duration, profile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := loadgate.Run(ctx, loadgate.Options{URL: url, Duration: dur, Concurrency: conc})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
