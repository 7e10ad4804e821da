package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fdwire/fdwire/internal/clidoc"
	"github.com/fdwire/fdwire/runtime/diag"
)

// runGraph is fdwire graph: a topology file goes to the Lua command
// (stdlib/lua/topo/cli_graph.lua); --pid, --cgroup and --all draw running
// processes here, parsed by the same spec.
func runGraph(args []string) int {
	system := false
	for _, a := range args {
		if a == "--" {
			break
		}
		for _, o := range []string{"--pid", "--cgroup", "--all"} {
			if a == o || strings.HasPrefix(a, o+"=") {
				system = true
			}
		}
	}
	if !system {
		return runTool("fdwire.topo.cli_graph")(args)
	}
	specs, err := clidoc.LoadSpecs([]clidoc.Source{{Name: "graph", Module: "fdwire.topo.cli_graph", Field: "spec"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire graph:", err)
		return 1
	}
	sp := specs[0]
	p, help, err := clidoc.Parse(sp, args)
	switch {
	case help:
		fmt.Print(clidoc.Help(sp))
		return 0
	case err == nil && len(p.Args) > 0:
		err = fmt.Errorf("a TOPO.lua and --pid/--cgroup/--all exclude each other")
	}
	modes := 0
	for _, k := range []string{"pid", "cgroup", "all"} {
		if _, ok := p.Opts[k]; ok {
			modes++
		}
	}
	if err == nil && modes > 1 {
		err = fmt.Errorf("--pid, --cgroup and --all exclude each other")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fdwire graph: %v\ntry 'fdwire graph --help'\n", err)
		return 2
	}
	var pids []int
	switch {
	case p.Opts["all"] == "true":
		pids, err = diag.Pids()
	case p.Opts["cgroup"] != "":
		pids, err = diag.CgroupPids(p.Opts["cgroup"])
	default:
		for _, v := range p.Lists["pid"] {
			n, cerr := strconv.Atoi(v)
			if cerr != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "fdwire graph: --pid expects a process id, got %q\n", v)
				return 2
			}
			if _, serr := os.Stat("/proc/" + v); serr != nil {
				fmt.Fprintf(os.Stderr, "fdwire graph: no process %d\n", n)
				return 1
			}
			pids = append(pids, n)
		}
		if p.Opts["only"] != "true" {
			pids = diag.WithDescendants(pids, os.Getpid())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire graph:", err)
		return 1
	}
	g, err := diag.SystemGraph(without(pids, os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire graph:", err)
		return 1
	}
	var text string
	if p.Opts["json"] == "true" {
		b, _ := json.MarshalIndent(g, "", "  ")
		text = string(b) + "\n"
	} else {
		text = g.DOT()
	}
	return writeGraph(text, p.Opts["output"], p.Opts["json"] == "true")
}

func without(pids []int, skip int) []int {
	out := pids[:0:0]
	for _, p := range pids {
		if p != skip {
			out = append(out, p)
		}
	}
	return out
}

// writeGraph prints text, or writes it to out: as is for .dot/.gv/.json,
// else through Graphviz's dot -T<extension>.
func writeGraph(text, out string, isJSON bool) int {
	if out == "" || out == "-" {
		fmt.Print(text)
		return 0
	}
	ext := strings.TrimPrefix(filepath.Ext(out), ".")
	if isJSON || ext == "dot" || ext == "gv" || ext == "json" {
		if err := os.WriteFile(out, []byte(text), 0o666); err != nil {
			fmt.Fprintln(os.Stderr, "fdwire graph:", err)
			return 1
		}
		return 0
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fdwire graph: dot (Graphviz) is not installed: install graphviz, or write DOT with -o FILE.dot")
		return 1
	}
	cmd := exec.Command(dot, "-T"+ext, "-o", out)
	cmd.Stdin = strings.NewReader(text)
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "fdwire graph: dot: %v: %s", err, b)
		return 1
	}
	return 0
}
