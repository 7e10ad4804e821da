package repl

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/fdwire/fdwire/docs"
)

// helpEntryRe is the docs' function heading, "### sock.listen_on(addr) -> l"
// or "### Fd:read(n, opts)", the same form the docs-coverage test reads.
var helpEntryRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile("^###\\s+`?([A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)+)")
})

// helpEntry is one documented function: its heading and the text under it.
type helpEntry struct {
	name, heading, body, page string
}

// helpIndex is every "### name" entry of the embedded docs.
type helpIndex struct {
	entries map[string]helpEntry
	order   []string
	pages   map[string]string // page name without .md -> its title
}

func loadHelp(fsys fs.FS) *helpIndex {
	h := &helpIndex{entries: map[string]helpEntry{}, pages: map[string]string{}}
	files, _ := fs.Glob(fsys, "*.md")
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			continue
		}
		page := strings.TrimSuffix(f, ".md")
		var cur *helpEntry
		var body []string
		flush := func() {
			if cur != nil {
				cur.body = strings.TrimSpace(strings.Join(body, "\n"))
				if _, dup := h.entries[cur.name]; !dup {
					h.entries[cur.name] = *cur
					h.order = append(h.order, cur.name)
				}
			}
			cur, body = nil, nil
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "# ") && h.pages[page] == "" {
				h.pages[page] = strings.TrimPrefix(line, "# ")
			}
			if strings.HasPrefix(line, "#") {
				flush()
				if m := helpEntryRe().FindStringSubmatch(line); m != nil {
					cur = &helpEntry{name: m[1], heading: strings.TrimSpace(strings.TrimLeft(line, "# ")), page: f}
				}
				continue
			}
			if cur != nil {
				body = append(body, line)
			}
		}
		flush()
	}
	sort.Strings(h.order)
	return h
}

// defaultHelp is the index of the embedded docs, built on first use:
// parsing every page at package init cost each fdwire start about 2 ms,
// REPL or not.
func defaultHelp() *helpIndex {
	helpOnce.Do(func() { helpIdx = loadHelp(docs.Pages) })
	return helpIdx
}

var (
	helpOnce sync.Once
	helpIdx  *helpIndex
)

// names lists entry names and page names, for completing ":help ".
func (h *helpIndex) names() []string {
	out := append([]string(nil), h.order...)
	for p := range h.pages {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// text answers ":help" (topic "") and ":help name": one entry; every
// entry of a module ("sock") or type ("Fd"); or a page's entries.
func (h *helpIndex) text(topic string) string {
	topic = strings.TrimSpace(topic)
	topic = strings.TrimSuffix(topic, "()")
	var b strings.Builder
	if topic == "" {
		b.WriteString("Each line is Lua; a bare expression prints its value. A line left open\n")
		b.WriteString("(a block, a table, a call) continues on the \">>\" prompt.\n\n")
		b.WriteString("  :help NAME   the entry for a function (sock.listen_on, Fd:read), a module\n")
		b.WriteString("               (sock) or type (Fd) lists its functions\n")
		b.WriteString("  :fds         every descriptor this session owns\n")
		b.WriteString("  :procs       the children this session started, and their state\n")
		b.WriteString("  :quit        leave (so does Ctrl-D); descriptors are closed and\n")
		b.WriteString("               children terminated\n\n")
		b.WriteString("Tab completes globals, fields (sock.<Tab>), methods (l:<Tab>) and paths\n")
		b.WriteString("inside strings. Ctrl-C stops the running statement, not the session.\n\n")
		b.WriteString("Modules and types: ")
		b.WriteString(strings.Join(h.groups(), ", "))
		b.WriteString("\n")
		return b.String()
	}
	if e, ok := h.entries[topic]; ok {
		fmt.Fprintf(&b, "%s\n", e.heading)
		if e.body != "" {
			fmt.Fprintf(&b, "%s\n", e.body)
		}
		fmt.Fprintf(&b, "(docs/%s)\n", e.page)
		return b.String()
	}
	var list []helpEntry
	for _, n := range h.order {
		e := h.entries[n]
		if strings.HasPrefix(n, topic+".") || strings.HasPrefix(n, topic+":") || strings.TrimSuffix(e.page, ".md") == topic {
			list = append(list, e)
		}
	}
	if len(list) == 0 {
		var near []string
		low := strings.ToLower(topic)
		for _, n := range h.order {
			if strings.Contains(strings.ToLower(n), low) {
				near = append(near, n)
			}
		}
		fmt.Fprintf(&b, "no help for %q", topic)
		if len(near) > 0 {
			fmt.Fprintf(&b, "; try: %s", strings.Join(near, ", "))
		}
		b.WriteString("\n")
		return b.String()
	}
	if title := h.pages[topic]; title != "" {
		fmt.Fprintf(&b, "%s (docs/%s.md)\n", title, topic)
	}
	for _, e := range list {
		fmt.Fprintf(&b, "  %s\n", e.heading)
	}
	return b.String()
}

// groups lists the prefixes entries are filed under ("fd", "Fd", "sock").
func (h *helpIndex) groups() []string {
	seen := map[string]bool{}
	for _, n := range h.order {
		if i := strings.IndexAny(n, ".:"); i > 0 {
			seen[n[:i]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
