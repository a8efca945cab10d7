// Command sigfixture stands in for an action binary in the launcher's signal
// tests: it says when it listens, reports the first SIGINT or SIGTERM it gets
// (with its pid, so a test can tell it replaced the step's shell) and exits
// 130 like the real binaries do when cancelled.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println("sigfixture")
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	fmt.Printf("ready pid=%d\n", os.Getpid())
	select {
	case s := <-sig:
		fmt.Printf("got %s pid=%d\n", s, os.Getpid())
		os.Exit(130)
	case <-time.After(60 * time.Second):
		fmt.Println("no signal")
		os.Exit(3)
	}
}
