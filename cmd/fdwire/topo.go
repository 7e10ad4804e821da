package main

import "github.com/fdwire/fdwire/luabind"

// The topology commands, written in Lua (stdlib/lua/topo/cli.lua and
// stdlib/lua/testing.lua).
func topoCommands() []subcommand {
	return []subcommand{
		{"up", "run a topology file: start in dependency order, tear down in reverse, print a summary", runOwnSignals("up", "fdwire.topo.cli_up")},
		{"graph", "draw a topology file, or running processes (--pid), as Graphviz DOT or SVG", runGraph},
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
	return runRuntime(module, args, runMode{ownSignals: true, label: "fdwire " + name, errStatus: 3},
		func(rt *luabind.Runtime) *luabind.Result { return rt.RunModuleMain(module, args) })
}
