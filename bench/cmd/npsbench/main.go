// Command npsbench measures npsgate end to end against the limits of the
// machine it runs on and writes BENCHMARKS.md; `make bench` runs it. See
// package bench.
package main

import (
	"os"

	"github.com/npsgate/npsgate/bench"
)

func main() { os.Exit(bench.Main(os.Args[1:])) }
