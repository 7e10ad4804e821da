package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
)

// FDWIRE_CPUPROFILE=FILE writes a CPU profile of this run to FILE (read it
// with `go tool pprof fdwire FILE`). A "%p" in FILE becomes the pid and the
// variable is passed on to child processes, so every fdwire of a
// multi-process benchmark writes its own profile; without "%p" children do
// not inherit it and cannot overwrite the parent's file.
func init() { earlyHooks = append(earlyHooks, profileHook) }

var profiling bool

func profileHook() bool {
	path := os.Getenv("FDWIRE_CPUPROFILE")
	if path == "" || profiling {
		return false
	}
	profiling = true
	if strings.Contains(path, "%p") {
		path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	} else {
		os.Unsetenv("FDWIRE_CPUPROFILE")
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire: FDWIRE_CPUPROFILE:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "fdwire: FDWIRE_CPUPROFILE:", err)
		os.Exit(1)
	}
	// The other hooks still run first (this one now returns false), then
	// the normal command line; the profile is flushed before exit.
	code, handled := 0, false
	for _, h := range earlyHooks {
		if h() {
			handled = true
			break
		}
	}
	if !handled {
		code = run(os.Args[1:])
	}
	pprof.StopCPUProfile()
	f.Close()
	os.Exit(code)
	return true
}
