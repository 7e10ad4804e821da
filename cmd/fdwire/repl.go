package main

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/modules"
	"github.com/fdwire/fdwire/luabind/repl"
)

func replCommands() []subcommand {
	return []subcommand{{"repl", "interactive Lua session (the default on a terminal)", runREPL}}
}

const replUsage = `usage: fdwire repl

Starts the interactive session (also what "fdwire" with no arguments does on
a terminal). Each line is Lua; :help lists the commands and functions.
History is kept in $XDG_STATE_HOME/fdwire/history (or
~/.local/state/fdwire/history). Ctrl-C stops the running statement; Ctrl-D
or :quit leaves, closing every descriptor and terminating children.

exit status:
  0    left with Ctrl-D or :quit
  N    a statement called os.exit(N)
  1    the session could not start (stdin is not a terminal)
  143  ended by SIGTERM
`

func runREPL(args []string) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Print(replUsage)
			return 0
		}
		fmt.Fprint(os.Stderr, "fdwire repl: takes no arguments\n", replUsage)
		return 2
	}
	if !isTerminal(0) {
		fmt.Fprintln(os.Stderr, "fdwire repl: stdin is not a terminal; run a script with: fdwire - < FILE.lua")
		return 1
	}
	s, err := repl.New(repl.Options{Runtime: luabind.Options{Modules: modules.Default()}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			if sig == unix.SIGINT {
				s.Interrupt()
			} else {
				s.Terminate(128 + int(sig.(unix.Signal)))
			}
		}
	}()
	return s.Run()
}
