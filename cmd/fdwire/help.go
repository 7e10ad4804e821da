package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
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

// didYouMean suggests the command nearest to word (edit distance), or "".
func didYouMean(word string) string {
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", len(word)/3+2
	for _, n := range names {
		if d := editDistance(word, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// looksLikeCommand is a first argument that is no file and could only
// have been meant as a command name (no path, no .lua).
func looksLikeCommand(a string) bool {
	if a == "" || strings.ContainsAny(a, "/.") {
		return false
	}
	_, err := os.Stat(a)
	return os.IsNotExist(err)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
