package main

import (
	"sort"

	"github.com/fdwire/fdwire/internal/clidoc"
)

// The option specs of the commands cmd/fdwire parses in Go. The tools,
// up, test and graph keep theirs next to their Lua parser (specSources);
// help, man pages and completion are all generated from these.
var topSpec = clidoc.Spec{
	Summary: "plumb file descriptors between Linux processes with Lua scripts",
	Usage: "fdwire [options] [FILE.lua | -] [ARGS...]\n" +
		"       fdwire run FILE.lua [ARGS...]\n" +
		"       fdwire COMMAND [--help] ...",
	About: "Runs a Lua script with fdwire's modules (fd, sock, proc, task) preloaded.\n" +
		"FILE - reads the script from stdin, as does no FILE when stdin is not a terminal;\n" +
		"with no FILE on a terminal, the interactive session (fdwire repl) starts.",
	Options: []clidoc.Option{
		{Short: "e", Long: "eval", Arg: []string{"CODE"}, Help: "run CODE instead of a file (ARGS follow, in arg[1..])"},
		{Short: "V", Long: "version", Help: "print the version"},
	},
	Positional: "FILE.lua",
	Exits: []clidoc.Exit{
		{Code: "0", Meaning: "the script ran to its end"},
		{Code: "N", Meaning: "the script called os.exit(N)"},
		{Code: "1", Meaning: "the script raised an error (message and traceback on stderr)"},
		{Code: "2", Meaning: "bad command line"},
		{Code: "130", Meaning: "interrupted by SIGINT (143 SIGTERM, 129 SIGHUP, 131 SIGQUIT); children are ended first"},
	},
}

var replSpec = clidoc.Spec{
	Name:  "repl",
	Usage: "fdwire repl",
	About: "Starts the interactive session (also what \"fdwire\" with no arguments does on\n" +
		"a terminal). Each line is Lua; :help lists the commands and functions, :fds the\n" +
		"open descriptors as the kernel sees them. History is kept in\n" +
		"$XDG_STATE_HOME/fdwire/history (or ~/.local/state/fdwire/history). Ctrl-C stops\n" +
		"the running statement; Ctrl-D or :quit leaves, closing every descriptor and\n" +
		"terminating children.",
	Exits: []clidoc.Exit{
		{Code: "0", Meaning: "left with Ctrl-D or :quit"},
		{Code: "N", Meaning: "a statement called os.exit(N)"},
		{Code: "1", Meaning: "the session could not start (stdin is not a terminal)"},
		{Code: "2", Meaning: "bad command line"},
		{Code: "143", Meaning: "ended by SIGTERM"},
	},
}

var manSpec = clidoc.Spec{
	Name:  "man",
	Usage: "fdwire man [--roff] [COMMAND | lua]\n       fdwire man --install DIR",
	About: "Shows the manual page of fdwire, of fdwire COMMAND, or of the Lua API (lua:\n" +
		"fdwire-lua(7)) through man -l, without installing anything. With --install DIR it\n" +
		"writes every page under DIR/man1 and DIR/man7 (for example ~/.local/share/man or\n" +
		"/usr/local/share/man, which man finds by itself).",
	Options: []clidoc.Option{
		{Long: "install", Arg: []string{"DIR"}, Help: "write all pages under DIR/man1 and DIR/man7"},
		{Long: "roff", Help: "print the page's roff source instead of showing it"},
	},
	Positional: "COMMAND",
	Exits: []clidoc.Exit{
		{Code: "0", Meaning: "shown or installed"},
		{Code: "1", Meaning: "the pages could not be written, or man failed"},
		{Code: "2", Meaning: "bad command line, or no such page"},
	},
}

var completionSpec = clidoc.Spec{
	Name:  "completion",
	Usage: "fdwire completion bash|zsh|fish",
	About: "Prints a shell completion script for fdwire: its commands, their long and short\n" +
		"options, option values from a fixed set, files where a FILE is expected and socket\n" +
		"names from the runtime directory where a SOCKSPEC is. Load it with\n" +
		"  source <(fdwire completion bash)\n" +
		"or save it where the shell looks: ~/.local/share/bash-completion/completions/fdwire,\n" +
		"a directory of $fpath as _fdwire (zsh), ~/.config/fish/completions/fdwire.fish.",
	Positional: "SHELL",
	ArgValues:  [][]string{{"bash", "zsh", "fish"}},
	Exits: []clidoc.Exit{
		{Code: "0", Meaning: "printed"},
		{Code: "2", Meaning: "bad command line (unknown shell)"},
	},
}

var typesSpec = clidoc.Spec{
	Name:  "types",
	Usage: "fdwire types",
	About: "Prints a lua-language-server definition file (---@meta) describing every fdwire\n" +
		"module, function and handle type, generated from the API reference. Save it as\n" +
		"fdwire.lua in a directory listed in the workspace.library setting of .luarc.json.",
	Exits: []clidoc.Exit{
		{Code: "0", Meaning: "printed"},
		{Code: "2", Meaning: "bad command line"},
	},
}

var helpSpec = clidoc.Spec{
	Name:  "help",
	Usage: "fdwire help [COMMAND]",
	About: "Prints fdwire's help, or COMMAND's (the same as fdwire COMMAND --help). An unknown\n" +
		"COMMAND is an error with the nearest command's name.",
	Positional: "COMMAND",
	Exits: []clidoc.Exit{
		{Code: "0", Meaning: "printed"},
		{Code: "2", Meaning: "bad command line, or no such command"},
	},
}

// docCommands are the commands about fdwire itself: pages, completion,
// editor types, generated from the specs.
func docCommands() []subcommand {
	return []subcommand{
		{"man", "show or install fdwire's manual pages", runMan},
		{"completion", "print a bash, zsh or fish completion script", runCompletion},
		{"types", "print lua-language-server type definitions of the Lua API", runTypes},
		{"help", "show the help of fdwire or of one command (fdwire help COMMAND)", runHelp},
	}
}

// goSpecs are the subcommands whose spec is written in Go above.
var goSpecs = map[string]*clidoc.Spec{
	"repl": &replSpec, "man": &manSpec, "completion": &completionSpec, "types": &typesSpec, "help": &helpSpec,
}

// specSources says where each Lua-parsed subcommand's spec table is.
var specSources = map[string][2]string{
	"send":          {"fdwire.tools.send", "spec"},
	"recv":          {"fdwire.tools.recv", "spec"},
	"activate":      {"fdwire.tools.activate", "spec"},
	"portlisten":    {"fdwire.tools.portlisten", "spec"},
	"hold":          {"fdwire.tools.hold", "spec"},
	"hold-store":    {"fdwire.tools.holdcli", "store_spec"},
	"hold-retrieve": {"fdwire.tools.holdcli", "retrieve_spec"},
	"hold-list":     {"fdwire.tools.holdcli", "list_spec"},
	"hold-delete":   {"fdwire.tools.holdcli", "delete_spec"},
	"hold-transfer": {"fdwire.tools.holdcli", "transfer_spec"},
	"up":            {"fdwire.topo.cli_up", "spec"},
	"graph":         {"fdwire.topo.cli_graph", "spec"},
	"test":          {"fdwire.testing", "spec"},
}

// allSpecs returns every subcommand's spec, sorted by name, with the
// summary the command list shows.
func allSpecs() ([]clidoc.Spec, error) {
	var srcs []clidoc.Source
	var out []clidoc.Spec
	for name, sc := range commands() {
		if s, ok := specSources[name]; ok {
			srcs = append(srcs, clidoc.Source{Name: name, Summary: sc.summary, Module: s[0], Field: s[1]})
		} else if g, ok := goSpecs[name]; ok {
			sp := *g
			sp.Summary = sc.summary
			out = append(out, sp)
		}
	}
	lua, err := clidoc.LoadSpecs(srcs)
	if err != nil {
		return nil, err
	}
	out = append(out, lua...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	// fdwire man completes to the pages there are.
	for i := range out {
		if out[i].Name == "man" {
			names := []string{"lua"}
			for _, c := range out {
				names = append(names, c.Name)
			}
			out[i].ArgValues = [][]string{names}
		}
	}
	return out, nil
}
