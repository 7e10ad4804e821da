package diag

import (
	"fmt"
	"strconv"
	"strings"
)

func dotq(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func fdList(fds []int) string {
	s := make([]string, len(fds))
	for i, n := range fds {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func shortArgv(p GProc) string {
	a := strings.Join(p.Argv, " ")
	if a == "" {
		a = p.Comm
	}
	if len(a) > 40 {
		a = a[:37] + "..."
	}
	return a
}

// edgeStyle is the DOT style of an edge of kind k ("" for none).
func edgeStyle(k string) string {
	switch k {
	case "pipe":
		return `color="#404040"`
	case "unix":
		return `dir=both, color="#3060c0"`
	case "tcp":
		return `dir=both, color="#208040"`
	case "pending":
		return `style=dashed, color="#c07000"`
	case "listen":
		return `style=dotted, arrowhead=none`
	case "tty":
		return `dir=none, color="#a0a0a0"`
	}
	return ""
}

// objShape is the DOT shape of an object of kind k ("" for none).
func objShape(k string) string {
	switch k {
	case "listener":
		return `shape=ellipse, fillcolor="#fff8e0"`
	case "tty":
		return `shape=note, fillcolor="#eeeeee"`
	case "pipe", "socket":
		return `shape=box, fillcolor="#fff0f0", fontsize=9`
	case "remote":
		return `shape=ellipse, fillcolor="#f0fff0"`
	}
	return ""
}

// DOT renders g in the style of a topology's graph (fdwire graph TOPO):
// processes are boxes, edges carry the descriptor numbers at each end.
func (g *Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph \"processes\" {\n  rankdir=LR;\n")
	b.WriteString(`  node [shape=box, style="rounded,filled", fillcolor="#f5f5ff", fontname="Helvetica", fontsize=11];` + "\n")
	b.WriteString(`  edge [fontname="Helvetica", fontsize=10];` + "\n")
	for _, p := range g.Procs {
		extra := ""
		if p.Outside {
			extra = `, style="rounded,dashed", fillcolor="#ffffff"`
		}
		fmt.Fprintf(&b, "  %s [label=%s%s];\n", dotq(pidNode(p.Pid)), dotq(fmt.Sprintf("%s\npid %d\n%s", p.Comm, p.Pid, shortArgv(p))), extra)
	}
	for _, o := range g.Objects {
		fmt.Fprintf(&b, "  %s [label=%s, style=filled, %s];\n", dotq(o.ID), dotq(o.Label), objShape(o.Kind))
	}
	for _, e := range g.Edges {
		attrs := []string{"label=" + dotq(e.Label)}
		if len(e.FromFds) > 0 {
			attrs = append(attrs, "taillabel="+dotq(fdList(e.FromFds)))
		}
		if len(e.ToFds) > 0 {
			attrs = append(attrs, "headlabel="+dotq(fdList(e.ToFds)))
		}
		if s := edgeStyle(e.Kind); s != "" {
			attrs = append(attrs, s)
		}
		fmt.Fprintf(&b, "  %s -> %s [%s];\n", dotq(e.From), dotq(e.To), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	return b.String()
}
