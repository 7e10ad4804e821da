package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fdwire/fdwire/internal/clidoc"
)

// manFiles returns the generated pages by file name (fdwire-recv.1).
func manFiles() (map[string]string, error) {
	files, err := generatedFiles()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for path, text := range files {
		if strings.HasPrefix(path, "docs/man/") {
			out[filepath.Base(path)] = text
		}
	}
	return out, nil
}

func runMan(args []string) int {
	p, help, err := clidoc.Parse(manSpec, args)
	switch {
	case help:
		fmt.Print(clidoc.Help(manSpec))
		return 0
	case err != nil:
		fmt.Fprintf(os.Stderr, "fdwire man: %v\ntry 'fdwire man --help'\n", err)
		return 2
	case len(p.Args) > 1:
		fmt.Fprintf(os.Stderr, "fdwire man: one page at a time, got %q\n", p.Args)
		return 2
	}
	pages, err := manFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire man:", err)
		return 1
	}
	if dir, ok := p.Opts["install"]; ok {
		if len(p.Args) > 0 {
			fmt.Fprintln(os.Stderr, "fdwire man: --install writes every page; it takes no COMMAND")
			return 2
		}
		return installMan(dir, pages)
	}
	file := "fdwire.1"
	if len(p.Args) == 1 {
		switch name := p.Args[0]; name {
		case "lua", "fdwire-lua":
			file = "fdwire-lua.7"
		case "fdwire":
		default:
			file = "fdwire-" + strings.TrimPrefix(name, "fdwire-") + ".1"
		}
	}
	text, ok := pages[file]
	if !ok {
		var names []string
		for n := range pages {
			name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(n, "fdwire"), "-"), filepath.Ext(n))
			if name == "" {
				name = "fdwire"
			}
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "fdwire man: no page for %q; pages: %s\n", p.Args[0], strings.Join(names, " "))
		return 2
	}
	if p.Opts["roff"] == "true" {
		fmt.Print(text)
		return 0
	}
	man, err := exec.LookPath("man")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire man: man is not installed (Debian: man-db); printing the roff source")
		fmt.Print(text)
		return 0
	}
	// man -l reads a page file; "-" is its stdin.
	cmd := exec.Command(man, "-l", "-")
	cmd.Stdin = strings.NewReader(text)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "fdwire man:", err)
		return 1
	}
	return 0
}

// installMan writes every page to DIR/manN/, as man(1) looks for them.
func installMan(dir string, pages map[string]string) int {
	n := 0
	for name, text := range pages {
		sub := filepath.Join(dir, "man"+name[len(name)-1:])
		if err := os.MkdirAll(sub, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "fdwire man:", err)
			return 1
		}
		if err := os.WriteFile(filepath.Join(sub, name), []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "fdwire man:", err)
			return 1
		}
		n++
	}
	fmt.Printf("installed %d pages under %s\n", n, dir)
	return 0
}
