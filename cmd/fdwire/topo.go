package main

import (
	"fmt"
	"os"

	"github.com/fdwire/fdwire/luabind"
)

// The topology commands, written in Lua (stdlib/lua/topo/cli.lua and
// stdlib/lua/testing.lua).
func topoCommands() []subcommand {
	return []subcommand{
		{"up", "run a topology file: start in dependency order, tear down in reverse, print a summary", runOwnSignals("up", "fdwire.topo.cli_up")},
		{"graph", "print a topology file as Graphviz DOT, or write SVG with -o FILE.svg", runTool("fdwire.topo.cli_graph")},
		{"test", "run topology test files in parallel and report N passed, N failed", runOwnSignals("test", "fdwire.testing")},
	}
}

// runOwnSignals is runTool without the CLI's own signal handler: `up`
// and `test` take SIGINT, SIGTERM, SIGHUP and SIGQUIT themselves so that
// each tears the topologies down in order and still prints the summary
// (a second signal interrupts at once).
func runOwnSignals(name, module string) func([]string) int {
	return func(args []string) int { return runModuleOwnSignals(name, module, args) }
}

func runModuleOwnSignals(name, module string, args []string) int {
	defer endReaper()
	rt, err := luabind.New(runtimeOptions(module, args))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	defer rt.Close()
	res := rt.RunModuleMain(module, args)
	if res.Err != nil {
		fmt.Fprintln(os.Stderr, "fdwire "+name+":", rt.ErrorReport(res.Err))
		return 3
	}
	status := res.ExitCode()
	if status == 0 && rt.Failures() > 0 {
		status = 1
	}
	return status
}
