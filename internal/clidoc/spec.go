// Package clidoc turns the option specs that parse fdwire's command lines
// (stdlib/lua/tools/args.lua's format, loaded from Lua, or written in Go
// for the commands cmd/fdwire parses itself) into --help text, man pages
// and shell completion scripts, so none of them can drift from the parser.
// It also turns docs/*.md into fdwire-lua(7) and the editor type file.
package clidoc

// Spec is one command's options, as args.lua reads them.
type Spec struct {
	Name        string // "recv", "hold-store"; "" for fdwire itself
	Summary     string // one line, for NAME and the command list
	Usage       string
	About       string
	Details     string
	Options     []Option
	Positional  string   // names of the positional arguments ("SOCKSPEC and ID")
	Terminators []string // what ends the options ("--", "--run")
	Command     bool     // a COMMAND follows a terminator
	Exits       []Exit
	ArgValues   [][]string // fixed values of each positional argument, when known (Go specs)
}

// Option is one option of a Spec.
type Option struct {
	Short, Long string
	Arg         []string // value names; none for a flag
	List        bool     // repeatable
	Default     string
	Help        string
	Values      []string // the fixed set of values, when there is one
}

// Exit is one documented exit status.
type Exit struct{ Code, Meaning string }

// Names is "-f, --fd" for an option.
func (o Option) Names() []string {
	var n []string
	if o.Short != "" {
		n = append(n, "-"+o.Short)
	}
	if o.Long != "" {
		n = append(n, "--"+o.Long)
	}
	return n
}
