// Command fdwire runs Lua scripts that plumb file descriptors between
// processes. See README.md and docs/.
package main

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

const usage = `usage: fdwire [options] [FILE.lua | -] [ARGS...]
       fdwire run FILE.lua [ARGS...]

Runs a Lua script with fdwire's modules (fd, sock, proc, task) preloaded.
With no FILE and stdin not a terminal, the script is read from stdin.

options:
  -e, --eval CODE   run CODE instead of a file (ARGS follow)
  -                 read the script from stdin
  -h, --help        show this help
  -V, --version     print the version

exit status:
  0    the script ran to its end
  N    the script called os.exit(N)
  1    the script raised an error (message and traceback on stderr)
  2    bad command line
  130  interrupted by SIGINT (143 for SIGTERM)
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// Nothing fdwire inherited may leak into the children it starts.
	if err := fdio.MarkInheritedCloexec(); err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	var code, script string
	isCode := false
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
		if len(args) == 0 {
			fmt.Fprint(os.Stderr, "fdwire run: missing FILE.lua\n", usage)
			return 2
		}
	}
	switch {
	case len(args) == 0:
		if isTerminal(0) {
			fmt.Fprintln(os.Stderr, "fdwire: the interactive REPL is not built yet; run a script: fdwire FILE.lua")
			return 2
		}
		script = "-"
	case args[0] == "-h" || args[0] == "--help":
		fmt.Print(usage)
		return 0
	case args[0] == "-V" || args[0] == "--version":
		fmt.Println("fdwire", Version)
		return 0
	case args[0] == "-e" || args[0] == "--eval":
		if len(args) < 2 {
			fmt.Fprint(os.Stderr, "fdwire: -e needs CODE\n", usage)
			return 2
		}
		code, isCode, script, args = args[1], true, "-e", args[2:]
	case len(args[0]) > 1 && args[0][0] == '-' && args[0] != "-":
		fmt.Fprintf(os.Stderr, "fdwire: unknown option %s\n%s", args[0], usage)
		return 2
	default:
		script, args = args[0], args[1:]
	}

	rt, err := luabind.New(luabind.Options{Script: script, Args: args})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", err)
		return 1
	}
	defer rt.Close()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	go func() {
		for s := range sigs {
			rt.Interrupt(128 + int(s.(unix.Signal)))
		}
	}()
	var res *luabind.Result
	if isCode {
		res = rt.RunString(code, "=(command line)")
	} else {
		res = rt.RunFile(script)
	}
	if res.Err != nil {
		fmt.Fprintln(os.Stderr, "fdwire:", rt.ErrorReport(res.Err))
	}
	status := res.ExitCode()
	if status == 0 && rt.Failures() > 0 {
		status = 1
	}
	return status
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
