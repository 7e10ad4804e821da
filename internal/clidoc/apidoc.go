package clidoc

import (
	"io/fs"
	"regexp"
	"strings"
	"sync"
)

// DocPage is one page of docs/ read as the Lua API reference: its title,
// the text before the first entry, and its function entries.
type DocPage struct {
	File, Title, Intro string
	Sections           []DocSection // "## ..." parts, in order; the first may have no heading
}

// DocSection is the text and entries under one "##" heading.
type DocSection struct {
	Heading, Text string
	Entries       []Entry
}

// Entry is one "### name(params) -> results" heading and its text.
type Entry struct {
	Sig, Name string // "fd.pipe() -> r, w", "fd.pipe"
	Params    []string
	Results   []string
	Body      string
}

// entryName matches the function headings the docs-coverage test reads.
var entryName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile("^`?([A-Za-z_][A-Za-z0-9_]*[.:][A-Za-z_][A-Za-z0-9_.:]*)")
})

// ParseDocs reads the given pages of fsys.
func ParseDocs(fsys fs.FS, files []string) ([]DocPage, error) {
	var out []DocPage
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		out = append(out, parsePage(f, string(b)))
	}
	return out, nil
}

func parsePage(file, text string) DocPage {
	p := DocPage{File: file}
	lines := strings.Split(text, "\n")
	sec := &DocSection{}
	var cur *Entry
	var body []string
	inFence := false
	flush := func() {
		t := strings.TrimSpace(strings.Join(body, "\n"))
		body = nil
		switch {
		case cur != nil:
			cur.Body = t
			sec.Entries = append(sec.Entries, *cur)
			cur = nil
		case sec.Heading == "" && len(p.Sections) == 0 && p.Intro == "":
			p.Intro = t
		default:
			sec.Text = t
		}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		switch {
		case inFence || strings.HasPrefix(l, "```"):
			body = append(body, l)
		case strings.HasPrefix(l, "# ") && p.Title == "":
			p.Title = strings.TrimSpace(l[2:])
		case strings.HasPrefix(l, "## "):
			flush()
			if sec.Heading != "" || len(sec.Entries) > 0 || sec.Text != "" {
				p.Sections = append(p.Sections, *sec)
			}
			sec = &DocSection{Heading: strings.TrimSpace(l[3:])}
		case strings.HasPrefix(l, "### "):
			flush()
			sig := strings.TrimSpace(l[4:])
			// A long signature continues until its braces close.
			for strings.Count(sig, "{") > strings.Count(sig, "}") && i+1 < len(lines) {
				i++
				sig += " " + strings.TrimSpace(lines[i])
			}
			m := entryName().FindStringSubmatch(sig)
			if m == nil { // a plain sub-heading
				body = append(body, "**"+sig+"**", "")
				continue
			}
			e := Entry{Sig: strings.Trim(sig, "`"), Name: m[1]}
			e.Params, e.Results = splitSig(e.Sig[len(m[1]):])
			cur = &e
		default:
			body = append(body, l)
		}
	}
	flush()
	p.Sections = append(p.Sections, *sec)
	return p
}

// splitSig reads "(a, b, opts) -> x, y" (or "{...}" for a table call).
func splitSig(s string) (params, results []string) {
	args, res, _ := strings.Cut(s, "->")
	args = strings.TrimSpace(args)
	if strings.HasPrefix(args, "{") {
		params = []string{"spec"}
	} else {
		args = strings.TrimSuffix(strings.TrimPrefix(args, "("), ")")
		for _, a := range strings.Split(args, ",") {
			a = strings.TrimSpace(a)
			if a == "{mode=}" {
				a = "opts"
			}
			if a != "" {
				params = append(params, a)
			}
		}
	}
	res = strings.TrimSpace(res)
	if res == "" {
		return params, nil
	}
	if strings.HasPrefix(res, "{") {
		return params, []string{res}
	}
	for _, r := range strings.Split(res, ",") {
		r = strings.Trim(strings.TrimSpace(r), "[]")
		if r = strings.TrimSpace(r); r != "" {
			results = append(results, r)
		}
	}
	return params, results
}
