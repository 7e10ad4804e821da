//go:build race

package repl

// raceEnabled: readline v1.5.1's Terminal adds to its WaitGroup inside the
// goroutine it starts, which the race detector flags when Close follows
// NewEx at once (not a bug of ours; harmless in use).
const raceEnabled = true
