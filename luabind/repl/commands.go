package repl

import (
	"fmt"
	"io"
	"strings"
)

// command runs one ":name args" line.
func (s *Session) command(line string) {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch name {
	case ":help", ":h", ":?":
		fmt.Fprint(s.out, s.help.text(arg))
	case ":fds":
		s.listFds()
	case ":procs":
		s.listProcs()
	case ":quit", ":q", ":exit":
		s.quit = true
	default:
		fmt.Fprintf(s.errw, "unknown command %s; the commands are %s\n", name, strings.Join(commands, " "))
	}
}

func (s *Session) listFds() {
	rows := fdRows(s.rt)
	if len(rows) == 0 {
		fmt.Fprintln(s.out, "(no descriptors owned by this session)")
		return
	}
	// One write, so the table reaches the terminal whole.
	var b strings.Builder
	writeFdTable(&b, rows)
	io.WriteString(s.out, b.String())
}

func (s *Session) listProcs() {
	ps := procs(s.rt)
	if len(ps) == 0 {
		fmt.Fprintln(s.out, "(no children started by this session)")
		return
	}
	for _, p := range ps {
		fmt.Fprintf(s.out, "%7d  %-16s %s\n", p.Pid, p.State, strings.Join(p.Argv, " "))
	}
}
