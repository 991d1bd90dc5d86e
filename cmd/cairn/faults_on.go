//go:build cairn_faults

package main

import (
	"fmt"
	"os"

	"github.com/cairn-backup/cairn/repo/backend"
)

// testFaults wraps be in random transient faults when CAIRN_TEST_FAULTS
// is SEED:RATE. Only the stress test builds cairn with this file (build
// tag cairn_faults).
func testFaults(be backend.Backend, getenv func(string) string) (backend.Backend, bool) {
	spec := getenv("CAIRN_TEST_FAULTS")
	if spec == "" {
		return be, false
	}
	var seed uint64
	var rate float64
	if _, err := fmt.Sscanf(spec, "%d:%g", &seed, &rate); err != nil {
		fmt.Fprintf(os.Stderr, "CAIRN_TEST_FAULTS=%q: want SEED:RATE\n", spec)
		os.Exit(1)
	}
	return backend.NewRandomFaults(be, seed, rate), true
}
