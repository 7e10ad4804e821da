package clidoc

import (
	"regexp"
	"strings"
	"sync"
)

var (
	mdLink   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[([^\]]+)\]\([^)]+\)`) })
	mdStrong = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\*\*([^*]+)\*\*`) })
)

// inline renders one line of markdown text as roff.
func inline(s string) string {
	s = mdLink().ReplaceAllString(s, "$1")
	s = esc(s)
	s = mdStrong().ReplaceAllString(s, `\fB$1\fR`)
	return backticks().ReplaceAllString(s, `\fB$1\fR`)
}

// mdRoff converts the markdown the docs use (paragraphs, fenced code,
// "-" lists, tables) to man(7) requests.
func mdRoff(b *strings.Builder, md string) {
	inFence, inTable, para := false, false, false
	// Running text is gathered and converted a paragraph (or list item)
	// at a time, so that a `code span` may cross a line break.
	var text []string
	flush := func() {
		if len(text) > 0 {
			b.WriteString(inline(strings.Join(text, " ")) + "\n")
			text = nil
		}
	}
	defer flush()
	for _, l := range strings.Split(md, "\n") {
		t := strings.TrimSpace(l)
		if inFence || t == "" || strings.HasPrefix(t, "```") || strings.HasPrefix(t, "|") ||
			strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "#") {
			flush()
		}
		if inTable && !strings.HasPrefix(t, "|") {
			b.WriteString(".fi\n")
			inTable, para = false, false
		}
		switch {
		case strings.HasPrefix(t, "```"):
			if inFence {
				b.WriteString(".fi\n.RE\n")
			} else {
				b.WriteString(".PP\n.RS 4\n.nf\n")
			}
			inFence, para = !inFence, false
		case inFence:
			b.WriteString(esc(l) + "\n")
		case strings.HasPrefix(t, "|"):
			if strings.Trim(t, "|-: ") == "" {
				continue // the header rule
			}
			if !inTable {
				b.WriteString(".PP\n.nf\n")
				inTable = true
			}
			cells := strings.Split(strings.Trim(t, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			b.WriteString(inline(strings.Join(cells, " | ")) + "\n")
			continue
		case t == "":
			para = false
		case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* "):
			b.WriteString(".IP \\(bu 2\n")
			text = append(text, t[2:])
			para = true
		case strings.HasPrefix(t, "#"):
			b.WriteString(".SS " + inline(strings.TrimLeft(t, "# ")) + "\n")
			para = true
		default:
			if !para {
				b.WriteString(".PP\n")
				para = true
			}
			text = append(text, t)
		}
	}
	if inTable {
		b.WriteString(".fi\n")
	}
}

// ManLua renders fdwire-lua(7) from the API pages.
func ManLua(pages []DocPage) string {
	var b strings.Builder
	header(&b, "fdwire-lua", 7, "the Lua API of fdwire scripts")
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString("Scripts run by\n.BR fdwire (1)\nhave the modules below. Errors raise a table with fields\n" +
		"\\fBop\\fR, \\fBerrno\\fR, \\fBname\\fR and \\fBmsg\\fR; use \\fBpcall\\fR to handle them.\n" +
		"Every entry is also shown by \\fB:help\\fR \\fIname\\fR in the REPL.\n")
	for _, p := range pages {
		b.WriteString(".SH " + strings.ToUpper(inline(p.Title)) + "\n")
		mdRoff(&b, p.Intro)
		for _, s := range p.Sections {
			if s.Heading != "" {
				b.WriteString(".SS " + inline(s.Heading) + "\n")
			}
			mdRoff(&b, s.Text)
			for _, e := range s.Entries {
				b.WriteString(".TP\n.B " + esc(e.Sig) + "\n")
				var inner strings.Builder
				mdRoff(&inner, e.Body)
				// Inside a .TP item, paragraphs must not end the indent.
				body := strings.ReplaceAll(inner.String(), ".PP\n", ".IP\n")
				body = strings.TrimPrefix(body, ".IP\n")
				b.WriteString(body)
			}
		}
	}
	b.WriteString(".SH SEE ALSO\n.BR fdwire (1),\n.BR fdwire\\-up (1),\n.BR unix (7),\n.BR pidfd_open (2)\n")
	return b.String()
}
