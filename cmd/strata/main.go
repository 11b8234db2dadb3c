// Command strata runs Strata's task managers, reaper and HTTP server, and
// inspects, benchmarks and maintains a Strata dataspace.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "strata: "+err.Error())
		os.Exit(1)
	}
}
