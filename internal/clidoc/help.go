package clidoc

import (
	"fmt"
	"strings"
)

// Help formats a spec's --help text exactly as args.lua's M.help does, for
// the commands cmd/fdwire parses in Go.
func Help(sp Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n", sp.Usage)
	if sp.About != "" {
		b.WriteString(sp.About + "\n\n")
	}
	b.WriteString("options:\n")
	type row struct{ l, r string }
	var rows []row
	for _, o := range sp.Options {
		l := strings.Join(o.Names(), ", ")
		if len(o.Arg) > 0 {
			l += " " + strings.Join(o.Arg, " ")
		}
		h := o.Help
		if o.Default != "" {
			h += " (default " + o.Default + ")"
		}
		rows = append(rows, row{l, h})
	}
	rows = append(rows, row{"-h, --help", "show this help"})
	w := 0
	for _, r := range rows {
		w = max(w, len(r.l))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s%s%s\n", r.l, strings.Repeat(" ", w-len(r.l)+2), r.r)
	}
	if sp.Details != "" {
		b.WriteString("\n" + sp.Details + "\n")
	}
	if len(sp.Exits) > 0 {
		b.WriteString("\nexit status:\n")
		for _, e := range sp.Exits {
			fmt.Fprintf(&b, "  %-5s %s\n", e.Code, e.Meaning)
		}
	}
	return b.String()
}

// Parsed is what Parse found: flags and option values by long name, and
// the positional arguments.
type Parsed struct {
	Opts  map[string]string
	Lists map[string][]string // every value of each option, in order
	Args  []string
}

// Parse reads argv by sp (single-valued options only, which is all the Go
// commands need). help is true when -h/--help was given; err is a usage
// error for the caller to print with exit status 2.
func Parse(sp Spec, argv []string) (p Parsed, help bool, err error) {
	p.Opts, p.Lists = map[string]string{}, map[string][]string{}
	find := func(long, short string) *Option {
		for i, o := range sp.Options {
			if (long != "" && o.Long == long) || (short != "" && o.Short == short) {
				return &sp.Options[i]
			}
		}
		return nil
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "-h" || a == "--help" {
			return p, true, nil
		}
		if a == "--" {
			p.Args = append(p.Args, argv[i+1:]...)
			break
		}
		var o *Option
		var name, inline string
		hasInline := false
		switch {
		case strings.HasPrefix(a, "--"):
			name = a[2:]
			if k, v, ok := strings.Cut(name, "="); ok {
				name, inline, hasInline = k, v, true
			}
			o = find(name, "")
			name = "--" + name
		case len(a) > 1 && a[0] == '-':
			name = a[:2]
			o = find("", a[1:2])
			if len(a) > 2 {
				inline, hasInline = a[2:], true
			}
		default:
			p.Args = append(p.Args, a)
			continue
		}
		if o == nil {
			return p, false, fmt.Errorf("unknown option %s", name)
		}
		key := o.Long
		if key == "" {
			key = o.Short
		}
		switch {
		case len(o.Arg) == 0 && hasInline:
			return p, false, fmt.Errorf("%s takes no value", name)
		case len(o.Arg) == 0:
			p.Opts[key] = "true"
		case hasInline:
			p.Opts[key] = inline
		case i+1 < len(argv):
			i++
			p.Opts[key] = argv[i]
		default:
			return p, false, fmt.Errorf("%s needs %s", name, strings.Join(o.Arg, " "))
		}
		p.Lists[key] = append(p.Lists[key], p.Opts[key])
		if v := p.Opts[key]; len(o.Values) > 0 && len(o.Arg) > 0 && !contains(o.Values, v) {
			return p, false, fmt.Errorf("%s takes %s, got %q", name, strings.Join(o.Values, " or "), v)
		}
	}
	return p, false, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
