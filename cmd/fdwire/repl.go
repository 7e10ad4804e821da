package main

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/internal/clidoc"
	"github.com/fdwire/fdwire/luabind/repl"
)

func replCommands() []subcommand {
	return []subcommand{{"repl", "interactive Lua session (the default on a terminal)", runREPL}}
}

func runREPL(args []string) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			fmt.Print(clidoc.Help(replSpec))
			return 0
		}
		fmt.Fprint(os.Stderr, "fdwire repl: takes no arguments\ntry 'fdwire repl --help'\n")
		return 2
	}
	if !isTerminal(0) {
		fmt.Fprintln(os.Stderr, "fdwire repl: stdin is not a terminal; run a script with: fdwire - < FILE.lua")
		return 1
	}
	defer endReaper()
	s, err := repl.New(repl.Options{
		Banner:  "fdwire " + Version + " (Lua 5.1, gopher-lua): :help for commands and functions, :fds for descriptors, Ctrl-D to leave",
		Runtime: runtimeOptions("", nil),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, endSignals...)
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
