package main

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/luabind"
)

// The tools written in fdwire's own Lua (stdlib/lua/tools/*.lua), each a
// subcommand whose exit status is what the module's main(argv) returns.
func toolCommands() []subcommand {
	return []subcommand{
		{"send", "send descriptors to a waiting `fdwire recv`", runTool("fdwire.tools.send")},
		{"recv", "receive descriptors from `fdwire send` and run a command with them", runTool("fdwire.tools.recv")},
		{"hold", "an fd holder daemon: named descriptors, expiry, access rules", runToolOwnSignals("fdwire.tools.hold")},
		{"hold-store", "store a descriptor in an `fdwire hold` holder", runTool("fdwire.tools.hold_store")},
		{"hold-retrieve", "retrieve a held descriptor and run a command with it", runTool("fdwire.tools.hold_retrieve")},
		{"hold-list", "list the identifiers a holder holds", runTool("fdwire.tools.hold_list")},
		{"hold-delete", "delete a held descriptor", runTool("fdwire.tools.hold_delete")},
		{"hold-transfer", "copy a holder's whole state into another holder", runTool("fdwire.tools.hold_transfer")},
		{"portlisten", "bind a (privileged) port, drop root, hand the listener or each connection to a handler", runTool("fdwire.tools.portlisten")},
		{"activate", "socket activation for testing, as systemd-socket-activate", runToolOwnSignals("fdwire.tools.activate")},
	}
}

// runToolOwnSignals is runTool for tools that watch signals themselves
// (signal.watch), so that hold can finish requests in flight on SIGTERM
// and activate can forward every catchable signal to COMMAND and return
// its status. An ending signal that no watch of the tool takes at that
// moment still ends the run in order, as for every other run.
func runToolOwnSignals(module string) func(args []string) int {
	return func(args []string) int {
		defer endReaper()
		rt, err := luabind.New(runtimeOptions(module, args))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fdwire:", err)
			return 1
		}
		defer rt.Close()
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, endSignals...)
		defer signal.Stop(sigs)
		go func() {
			for s := range sigs {
				if !rt.SignalWatched(s) {
					rt.Interrupt(128 + int(s.(unix.Signal)))
				}
			}
		}()
		res := rt.RunModuleMain(module, args)
		if res.Err != nil {
			fmt.Fprintln(os.Stderr, "fdwire:", rt.ErrorReport(res.Err))
		}
		status := res.ExitCode()
		if status == 0 && rt.Failures() > 0 {
			status = 1
		}
		return status
	}
}

// versionModule makes require "fdwire.version" the version string, for
// tools that print it (activate --version, as systemd-socket-activate).
func versionModule() luabind.Module {
	return luabind.Module{Name: "fdwire.version", Open: func(rt *luabind.Runtime, L *lua.LState) error {
		if loaded, ok := L.GetField(L.GetGlobal("package"), "loaded").(*lua.LTable); ok {
			loaded.RawSetString("fdwire.version", lua.LString(Version))
		}
		return nil
	}}
}
