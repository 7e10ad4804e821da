package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/fdwire/fdwire/luabind"
)

// fdwire help [COMMAND]: the top-level help, or COMMAND --help.
func runHelp(args []string) int {
	if len(args) == 0 {
		fmt.Print(usage())
		return 0
	}
	if len(args) > 1 {
		fmt.Fprintf(os.Stderr, "fdwire help: one COMMAND at a time, got %d\n", len(args))
		return 2
	}
	if args[0] == "help" {
		fmt.Print(usage())
		return 0
	}
	sc, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "fdwire help: no command %q%s\n", args[0], didYouMean(args[0]))
		return 2
	}
	return sc.run([]string{"--help"})
}

// didYouMean is " (did you mean "x"?)" for the command nearest to word,
// or "" (luabind's one edit-distance rule, as for options).
func didYouMean(word string) string {
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	// The words the short names stand for, so "recieve" finds recv.
	for long := range spelledOut {
		names = append(names, long)
	}
	sort.Strings(names)
	best := luabind.Suggest(word, names)
	if best == "" {
		return ""
	}
	if short, ok := spelledOut[best]; ok {
		best = short
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// spelledOut maps the words behind abbreviated command names to them.
var spelledOut = map[string]string{"receive": "recv", "activation": "activate", "holder": "hold"}

// looksLikeCommand is a first argument that is no file and could only
// have been meant as a command name (no path, no .lua).
func looksLikeCommand(a string) bool {
	if len(a) < 2 || a[0] < 'a' || a[0] > 'z' || strings.ContainsAny(a, "/.") {
		return false
	}
	_, err := os.Stat(a)
	return os.IsNotExist(err)
}
