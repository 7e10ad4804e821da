package main

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/modules"
	"github.com/fdwire/fdwire/runtime/reap"
)

// Lifetime (docs/guide.md, "Children never outlive fdwire"): every run
// ends its children in order when it ends normally, on an error, on
// os.exit, and on each of endSignals, and exits 128+N for signal N. The
// kernel ends them when fdwire dies without a say (SIGKILL, a crash):
// each non-detached child has PR_SET_PDEATHSIG (runtime/proc).

// endSignals end a run with the ordered teardown.
var endSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT}

// reaper is this process's child subreaper: one per process, armed by
// the first spawn, closed (remaining orphans ended) when the run ends.
var reaper = reap.NewReaper()

// warden cleans up after this process if it is killed (SIGKILL): the
// run directories, socket files and cgroups (with what runs in them) that
// it made. Started the first time something is made.
var warden = reap.NewWarden("/proc/self/exe", reaper)

// grace is how long children get between SIGTERM and SIGKILL.
const grace = 2 * time.Second

// runtimeOptions are the options of every runtime the CLI makes.
func runtimeOptions(script string, args []string) luabind.Options {
	return luabind.Options{Script: script, Args: args, Modules: append(modules.Default(), versionModule()), Reaper: reaper, Warden: warden, Grace: grace, PinSpawns: true}
}

// endReaper ends the orphans no runtime claimed and lets the warden go;
// after every runtime of the process has closed.
func endReaper() {
	reaper.Close(grace)
	warden.Close()
}
