//go:build !race

package sandbox

// raceMemoryFactor scales the memory limit of a race build's worker; see
// race.go.
const raceMemoryFactor = 1
