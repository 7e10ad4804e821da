package repl

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// luaKeywords complete like globals.
var luaKeywords = []string{
	"and", "break", "do", "else", "elseif", "end", "false", "for", "function",
	"if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true",
	"until", "while",
}

// commands are the REPL's own ":" commands.
var commands = []string{":fds", ":help", ":procs", ":quit"}

// chainRe finds the name chain left of the cursor: "sock.bind_" gives
// path "sock", separator ".", partial "bind_".
var chainRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`((?:[A-Za-z_][A-Za-z0-9_]*\s*[.:]\s*)*)([A-Za-z_][A-Za-z0-9_]*)?$`)
})

// complete is the Tab handler; it runs on readline's goroutine, so
// anything that reads Lua state is posted to the Lua goroutine.
func (s *Session) complete(line string, _ int) ([]string, int) {
	if q, ok := openString(line); ok {
		return completePath(line[q+1:])
	}
	trimmed := strings.TrimLeft(line, " \t")
	if strings.HasPrefix(trimmed, ":") {
		return s.completeCommand(trimmed)
	}
	m := chainRe().FindStringSubmatch(line)
	if m == nil {
		return nil, 0
	}
	chain, partial := m[1], m[2]
	// "3.", "x..y" or "f():" is not a field access we can follow.
	if start := len(line) - len(m[0]); start > 0 && strings.ContainsRune("0123456789.:)]\"'", rune(line[start-1])) {
		return nil, 0
	}
	var names []string
	ok := s.onLua(func() {
		names = s.names(chain)
	})
	if !ok {
		return nil, 0
	}
	return filterPrefix(names, partial), len([]rune(partial))
}

// names lists what may follow chain ("" for globals, "sock." for module
// fields, "l:" for methods); on the Lua goroutine.
func (s *Session) names(chain string) []string {
	if chain == "" {
		seen := map[string]bool{}
		for _, g := range globals(s.rt) {
			seen[g] = true
		}
		for _, k := range luaKeywords {
			seen[k] = true
		}
		out := make([]string, 0, len(seen))
		for k := range seen {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, chain)
	sep := compact[len(compact)-1]
	parts := strings.FieldsFunc(compact[:len(compact)-1], func(r rune) bool { return r == '.' || r == ':' })
	if strings.ContainsRune(compact[:len(compact)-1], ':') {
		return nil // a method call's result is unknown without calling it
	}
	v := lookup(s.rt, parts)
	if v == nil {
		return nil
	}
	qualified := ""
	if sep == '.' {
		qualified = strings.Join(parts, ".")
	}
	return fields(s.rt, v, qualified, sep == ':')
}

// onLua runs fn on the Lua goroutine and waits for it; it gives up after
// a while when a busy task holds that goroutine.
func (s *Session) onLua(fn func()) bool {
	done := make(chan struct{})
	s.rt.Post(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

func (s *Session) completeCommand(t string) ([]string, int) {
	name, arg, hasArg := strings.Cut(t, " ")
	if !hasArg {
		return filterPrefix(commands, name), len([]rune(name))
	}
	if name != ":help" {
		return nil, 0
	}
	arg = strings.TrimLeft(arg, " ")
	return filterPrefix(s.help.names(), arg), len([]rune(arg))
}

func filterPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

// openString reports whether the cursor is inside a string literal and
// where its opening quote is. Long strings ([[...]]) are not tracked.
func openString(line string) (int, bool) {
	quote := byte(0)
	at := -1
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote, at = c, i
		case quote == 0 && c == '-' && strings.HasPrefix(line[i:], "--"):
			return -1, false // a comment
		}
	}
	return at, quote != 0
}

// completePath lists the directory entries that start with the last
// component of partial; directories get a trailing slash.
func completePath(partial string) ([]string, int) {
	dir, base := filepath.Split(partial)
	look := dir
	if look == "" {
		look = "."
	}
	if strings.HasPrefix(look, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			look = filepath.Join(home, look[2:])
		}
	}
	ents, err := os.ReadDir(look)
	if err != nil {
		return nil, 0
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, base) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(look, n)); err == nil && st.IsDir() {
				isDir = true
			}
		}
		if isDir {
			n += "/"
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, len([]rune(base))
}
