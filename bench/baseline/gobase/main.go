// Command gobase is the Go baseline of bench/run: the same workloads as
// the C programs in bench/baseline/, written in plain Go with
// golang.org/x/sys/unix and no Lua, so that the table shows what the Go
// runtime itself costs and how far fdwire's binding is from it.
//
//	gobase hello                    exit at once (the start-up row)
//	gobase fdpass MODE NFDS NMSGS   MODE: block, try, try-cr, mmsg, mmsg-cr
//	gobase spawn N                  syscall.ForkExec of /bin/true, 3 fds mapped
//	gobase listener PORT HANDLER    seed 002's listener: accept, pass over unix dgram
//	gobase handler HANDLER GREETING seed 002's handler: receive, greet, close
//
// Each measuring mode prints "RESULT v ..." like the C programs.
package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "hello":
		// the start-up row: a Go program that does nothing
	case "fdpass":
		if len(args) != 3 {
			usage()
		}
		err = fdpass(args[0], atoi(args[1]), atoi(args[2]))
	case "fdpass-recv":
		// internal: the receiving process of fdpass, its socket at fd 3
		err = fdpassRecv(args[0], atoi(args[1]), atoi(args[2]))
	case "spawn":
		if len(args) != 1 {
			usage()
		}
		err = spawn(atoi(args[0]))
	case "listener":
		if len(args) != 2 {
			usage()
		}
		err = listener(atoi(args[0]), args[1])
	case "handler":
		if len(args) != 2 {
			usage()
		}
		err = handler(args[0], args[1])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobase:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gobase fdpass block|try|try-cr|mmsg|mmsg-cr NFDS NMSGS | spawn N | listener PORT HANDLER | handler HANDLER GREETING")
	os.Exit(2)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobase: not a number:", s)
		os.Exit(2)
	}
	return n
}
