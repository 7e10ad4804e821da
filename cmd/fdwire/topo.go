package main

import (
	"fmt"
	"os"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/modules"
)

// The topology commands, written in Lua (stdlib/lua/topo/cli.lua and
// stdlib/lua/testing.lua).
func topoCommands() []subcommand {
	return []subcommand{
		{"up", "run a topology file: start in dependency order, tear down in reverse, print a summary", runTopoUp},
		{"graph", "print a topology file as Graphviz DOT, or write SVG with -o FILE.svg", runTool("fdwire.topo.cli_graph")},
		{"test", "run topology test files in parallel and report N passed, N failed", runTool("fdwire.testing")},
	}
}

// runTopoUp is runTool without the CLI's own SIGINT/SIGTERM handler: the
// topology takes those signals itself so that ^C tears it down in order
// and still prints the summary (a second ^C interrupts at once).
func runTopoUp(args []string) int {
	const module = "fdwire.topo.cli_up"
	rt, err := luabind.New(luabind.Options{Script: module, Args: args, Modules: modules.Default()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	defer rt.Close()
	res := rt.RunModuleMain(module, args)
	if res.Err != nil {
		fmt.Fprintln(os.Stderr, "fdwire up:", rt.ErrorReport(res.Err))
		return 3
	}
	status := res.ExitCode()
	if status == 0 && rt.Failures() > 0 {
		status = 1
	}
	return status
}
