//go:build race

package pattern

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// the matcher pool allocates now and then; allocation counts mean nothing.
const raceEnabled = true
