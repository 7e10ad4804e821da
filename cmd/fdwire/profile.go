package main

import (
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"strings"
)

// FDWIRE_CPUPROFILE=FILE writes a CPU profile of this run to FILE (read it
// with `go tool pprof fdwire FILE`); FDWIRE_MEMPROFILE=FILE writes a heap
// profile at exit (every allocation sampled; `-sample_index=alloc_space`
// shows what allocated most). A "%p" in FILE becomes the pid and the
// variable is passed on to child processes, so every fdwire of a
// multi-process benchmark writes its own profile; without "%p" children do
// not inherit it and cannot overwrite the parent's file.
// profilePath reads the variable, expands %p, and hides it from children
// unless %p asks for one profile per process.
func profilePath(name string) string {
	path := os.Getenv(name)
	if strings.Contains(path, "%p") {
		return strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	}
	os.Unsetenv(name)
	return path
}

// withProfile runs body (all of main) under the profiles asked for and
// returns its exit status once they are written.
func withProfile(body func() int) int {
	if os.Getenv("FDWIRE_CPUPROFILE") == "" && os.Getenv("FDWIRE_MEMPROFILE") == "" {
		return body()
	}
	cpuPath, memPath := profilePath("FDWIRE_CPUPROFILE"), profilePath("FDWIRE_MEMPROFILE")
	if memPath != "" {
		goruntime.MemProfileRate = 1
	}
	var f *os.File
	if cpuPath != "" {
		var err error
		if f, err = os.Create(cpuPath); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fdwire: FDWIRE_CPUPROFILE:", err)
			os.Exit(1)
		}
	}
	// A trampoline child execs inside body and never flushes: only a %p
	// profile asks for one of those anyway.
	code := body()
	if f != nil {
		pprof.StopCPUProfile()
		f.Close()
	}
	if memPath != "" {
		if mf, err := os.Create(memPath); err == nil {
			pprof.Lookup("allocs").WriteTo(mf, 0)
			mf.Close()
		} else {
			fmt.Fprintln(os.Stderr, "fdwire: FDWIRE_MEMPROFILE:", err)
		}
	}
	return code
}
