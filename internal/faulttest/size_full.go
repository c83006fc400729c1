//go:build faults

package faulttest

// Full is true in the full run (go test -tags faults, make faults): the
// scenarios use their full counts and durations.
const Full = true
