package main

import "github.com/spf13/cobra"

// newBenchCmd is replaced by the benchmark command (BENCH.md).
func newBenchCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "bench", Short: "Run the BENCH.md workloads", Hidden: true}
}
