package main

import (
	"fmt"
	"os"

	"github.com/fdwire/fdwire/docs"
	"github.com/fdwire/fdwire/internal/clidoc"
)

// apiPages are the docs pages that describe the Lua API, in the order
// fdwire-lua(7) shows them; the CLI tools have their own man pages.
var apiPages = []string{"guide.md", "fd.md", "sock.md", "anon.md", "proc.md", "isolation.md", "task.md", "fs.md", "holder.md", "topo.md"}

func apiDocs() ([]clidoc.DocPage, error) { return clidoc.ParseDocs(docs.Pages, apiPages) }

func runTypes(args []string) int {
	_, help, err := clidoc.Parse(typesSpec, args)
	switch {
	case help:
		fmt.Print(clidoc.Help(typesSpec))
		return 0
	case err == nil && len(args) > 0:
		err = fmt.Errorf("takes no arguments")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fdwire types: %v\ntry 'fdwire types --help'\n", err)
		return 2
	}
	pages, err := apiDocs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire types:", err)
		return 1
	}
	fmt.Print(clidoc.Types(pages))
	return 0
}
