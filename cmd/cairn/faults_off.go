//go:build !cairn_faults

package main

import "github.com/cairn-backup/cairn/repo/backend"

// testFaults is the stress test's fault hook; release builds have none.
func testFaults(be backend.Backend, _ func(string) string) (backend.Backend, bool) { return be, false }
