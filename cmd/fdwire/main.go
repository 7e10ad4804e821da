// Command fdwire runs Lua scripts that plumb file descriptors between
// processes. See README.md and docs/.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/clidoc"
	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/reap"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

// subcommand is one "fdwire NAME ..." entry; each group lives in its own
// file (tools.go, topo.go, repl.go) and is listed in commands.
type subcommand struct {
	name    string
	summary string
	run     func(args []string) int
}

// commands is every subcommand, explicitly: the CLI's whole surface in
// one place.
func commands() map[string]subcommand {
	m := map[string]subcommand{}
	for _, group := range [][]subcommand{toolCommands(), topoCommands(), replCommands(), docCommands()} {
		for _, c := range group {
			m[c.name] = c
		}
	}
	return m
}

// usage is fdwire --help: the top-level spec (specs.go) and the commands.
func usage() string {
	subcommands := commands()
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("commands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-14s %s\n", n, subcommands[n].summary)
	}
	b.WriteString("Each has --help; fdwire man COMMAND shows its manual page.")
	sp := topSpec
	sp.Details = b.String()
	return clidoc.Help(sp)
}

func main() {
	os.Exit(withProfile(func() int {
		early()
		return run(os.Args[1:])
	}))
}

// early runs before anything else of the CLI. The fdwire binary is its
// own re-exec trampoline (see runtime/proc's trampoline.go): a child
// started with argv[0] "fdwire-trampoline" does its set-up (umask,
// rlimits, LISTEN_PID, ...) and execs its program here, never returning.
// Every other run gives its runtime the process's Reaper (lifetime.go),
// so orphaned grandchildren are reaped and, at exit, terminated with the
// children.
func early() {
	proc.RunTrampoline()
	reap.RunWarden()
}

func run(args []string) int {
	subcommands := commands()
	// Nothing fdwire inherited may leak into the children it starts.
	if err := fdio.MarkInheritedCloexec(); err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	if len(args) > 0 {
		if sc, ok := subcommands[args[0]]; ok {
			return sc.run(args[1:])
		}
	}
	var code, script string
	isCode := false
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
		if len(args) == 0 {
			fmt.Fprint(os.Stderr, "fdwire run: missing FILE.lua\n", usage())
			return 2
		}
	}
	switch {
	case len(args) == 0:
		if isTerminal(0) {
			if sc, ok := subcommands["repl"]; ok {
				return sc.run(nil)
			}
			fmt.Fprintln(os.Stderr, "fdwire: no REPL in this build; run a script: fdwire FILE.lua")
			return 2
		}
		script = "-"
	case args[0] == "-h" || args[0] == "--help":
		fmt.Print(usage())
		return 0
	case args[0] == "-V" || args[0] == "--version":
		fmt.Println("fdwire", Version)
		return 0
	case args[0] == "-e" || args[0] == "--eval":
		if len(args) < 2 {
			fmt.Fprint(os.Stderr, "fdwire: -e needs CODE\n", usage())
			return 2
		}
		code, isCode, script, args = args[1], true, "-e", args[2:]
	case len(args[0]) > 1 && args[0][0] == '-' && args[0] != "-":
		fmt.Fprintf(os.Stderr, "fdwire: unknown option %s\n%s", args[0], usage())
		return 2
	case len(args) > 0 && looksLikeCommand(args[0]) && didYouMean(args[0]) != "":
		// "fdwire recieve": a typo for a command, not a missing script.
		fmt.Fprintf(os.Stderr, "fdwire: %s is not a command, nor a file%s; fdwire help lists the commands\n", args[0], didYouMean(args[0]))
		return 2
	default:
		script, args = args[0], args[1:]
	}
	return runScript(script, args, func(rt *luabind.Runtime) *luabind.Result {
		if isCode {
			return rt.RunString(code, "=(command line)")
		}
		return rt.RunFile(script)
	})
}

// runScript makes a runtime, runs body in it with SIGINT, SIGTERM,
// SIGHUP and SIGQUIT ending the run cleanly, reports an uncaught error,
// and closes the runtime (children terminated, handles closed). It
// returns the exit status.
func runScript(script string, args []string, body func(rt *luabind.Runtime) *luabind.Result) int {
	return runRuntime(script, args, runMode{label: "fdwire", errStatus: 1}, body)
}

// runMode is what differs between the ways a runtime runs for the CLI.
type runMode struct {
	// ownSignals leaves the end signals to the Lua code (fdwire up and
	// test tear their topologies down in order and still report).
	ownSignals bool
	label      string // prefix of an uncaught error's report ("fdwire up")
	errStatus  int    // exit status after an uncaught error
}

// runRuntime is every CLI run of Lua: the runtime, the end signals (unless
// the Lua code takes them), the uncaught error's report, and the status:
// os.exit's, errStatus after an error, 1 when a background task failed.
func runRuntime(script string, args []string, m runMode, body func(rt *luabind.Runtime) *luabind.Result) int {
	defer endReaper()
	rt, err := luabind.New(runtimeOptions(script, args))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	defer rt.Close()
	if !m.ownSignals {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, endSignals...)
		defer signal.Stop(sigs)
		go func() {
			for s := range sigs {
				rt.Interrupt(128 + int(s.(unix.Signal)))
			}
		}()
	}
	res := body(rt)
	if res.Err != nil {
		fmt.Fprintln(os.Stderr, m.label+":", rt.ErrorReport(res.Err))
		if res.Exit == nil {
			return m.errStatus
		}
	}
	status := res.ExitCode()
	if status == 0 && rt.Failures() > 0 {
		status = 1
	}
	return status
}

// runTool runs the stdlib module's main(args) as a subcommand.
func runTool(module string) func(args []string) int {
	return func(args []string) int {
		return runScript(module, args, func(rt *luabind.Runtime) *luabind.Result {
			return rt.RunModuleMain(module, args)
		})
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
