package main

import (
	"fmt"
	"os"

	"github.com/fdwire/fdwire/internal/clidoc"
)

// completionScripts renders the three scripts from every spec.
func completionScript(shell string) (string, error) {
	cmds, err := allSpecs()
	if err != nil {
		return "", err
	}
	switch shell {
	case "bash":
		return clidoc.Bash(topSpec, cmds), nil
	case "zsh":
		return clidoc.Zsh(topSpec, cmds), nil
	case "fish":
		return clidoc.Fish(topSpec, cmds), nil
	}
	return "", fmt.Errorf("unknown shell %q: bash, zsh or fish", shell)
}

func runCompletion(args []string) int {
	p, help, err := clidoc.Parse(completionSpec, args)
	switch {
	case help:
		fmt.Print(clidoc.Help(completionSpec))
		return 0
	case err == nil && len(p.Args) != 1:
		err = fmt.Errorf("needs one SHELL: bash, zsh or fish")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fdwire completion: %v\ntry 'fdwire completion --help'\n", err)
		return 2
	}
	s, err := completionScript(p.Args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "fdwire completion: %v\n", err)
		return 2
	}
	fmt.Print(s)
	return 0
}
