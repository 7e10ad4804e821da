package main

import "github.com/fdwire/fdwire/runtime/proc"

// The fdwire binary is its own re-exec trampoline (see runtime/proc's
// trampoline.go): a child started with argv[0] "fdwire-trampoline" does
// its set-up (umask, rlimits, LISTEN_PID, ...) and execs its program
// before anything else of the CLI runs. Every other run makes fdwire a
// child subreaper, so orphaned grandchildren are reaped and, at exit,
// terminated with the children.
func init() {
	earlyHooks = append(earlyHooks, func() bool {
		proc.RunTrampoline()
		proc.EnableSubreaper()
		return false
	})
}
