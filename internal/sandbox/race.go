//go:build race

package sandbox

// raceMemoryFactor: the race detector's runtime keeps shadow memory for
// every byte the program touches, several times the heap itself, so a
// worker of a race build (the test suite's) would die of its memory limit
// before doing the work a release worker does within it. Release builds
// are never race builds.
const raceMemoryFactor = 4
