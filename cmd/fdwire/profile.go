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
func init() { earlyHooks = append(earlyHooks, profileHook) }

var profiling bool

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

func profileHook() bool {
	if profiling || (os.Getenv("FDWIRE_CPUPROFILE") == "" && os.Getenv("FDWIRE_MEMPROFILE") == "") {
		return false
	}
	profiling = true
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
	os.Exit(code)
	return true
}
