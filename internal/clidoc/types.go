package clidoc

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// The types of parameters and results, guessed from their names in the
// docs' signatures; anything not listed is "any".
var paramTypes = map[string]string{
	"h": "Fd", "s": "Fd", "conn": "Fd", "r": "Fd", "w": "Fd", "a": "Fd", "b": "Fd", "h2": "Fd",
	"from": "Fd", "to": "Fd", "dirfd": "Fd", "fd": "Fd", "Fd": "Fd",
	"n": "integer", "initval": "integer", "backlog": "integer", "mode": "integer", "mask": "integer",
	"old": "integer", "moved": "integer", "sig": "integer|string",
	"seconds": "number", "number": "integer",
	"path": "string", "name": "string", "flags": "string", "addr": "string|AddrHandle", "address": "string|AddrHandle",
	"id": "string", "pattern": "string", "msg": "string", "data": "string", "how": "string",
	"domain": "string", "type": "string", "events": "string", "what": "string", "user": "string|integer",
	"opts": "table", "spec": "table", "table": "table", "result": "table", "entries": "table", "fds": "Fd[]",
	"fn": "function", "on": "boolean", "boolean": "boolean", "bool": "boolean", "string": "string",
	"t": "Task", "t1": "Task", "t2": "Task", "results": "any", "v": "any", "got": "any", "want": "any",
}

// luaGlobals are the modules every script has without require.
var luaGlobals = map[string]bool{"fd": true, "sock": true, "proc": true, "task": true,
	"fs": true, "user": true, "clock": true, "topo": true}

var typesIdent = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

func typeOf(name string) string {
	if t, ok := paramTypes[name]; ok {
		return t
	}
	if strings.HasPrefix(name, "{") {
		return "table"
	}
	return "any"
}

// luaComment prefixes each line of text with "---".
func luaComment(b *strings.Builder, text string) {
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		b.WriteString("---" + l + "\n")
	}
}

// Types renders a lua-language-server definition file (---@meta) with
// every documented function: modules as global tables, handles (Fd, Proc,
// Task, ...) as classes.
func Types(pages []DocPage) string {
	var b strings.Builder
	b.WriteString("---@meta fdwire\n")
	b.WriteString("-- lua-language-server definitions for fdwire's Lua API, generated from docs/*.md\n")
	b.WriteString("-- by `fdwire types`; do not edit. Regenerate: FDWIRE_REGEN=1 go test ./cmd/fdwire -run TestGeneratedFiles\n\n")
	b.WriteString("---An address handle from sock.bind_anon (see docs/anon.md).\n---@class AddrHandle\n\n")
	seen := map[string]bool{"AddrHandle": true}
	var order []string
	var entries = map[string][]Entry{}
	for _, p := range pages {
		for _, s := range p.Sections {
			for _, e := range s.Entries {
				owner := e.Name[:strings.IndexAny(e.Name, ".:")]
				if _, ok := entries[owner]; !ok {
					order = append(order, owner)
				}
				entries[owner] = append(entries[owner], e)
			}
		}
	}
	for _, owner := range order {
		class := strings.ToUpper(owner[:1]) == owner[:1]
		if class {
			if !seen[owner] {
				fmt.Fprintf(&b, "---@class %s\nlocal %s = {}\n\n", owner, owner)
				seen[owner] = true
			}
		} else if luaGlobals[owner] {
			fmt.Fprintf(&b, "%s = {}\n\n", owner)
		} else { // a module got with require "fdwire.NAME"
			fmt.Fprintf(&b, "---@class fdwire.%s\nlocal %s = {}\n\n", owner, owner)
		}
		done := map[string]bool{}
		for _, e := range entries[owner] {
			if done[e.Name] {
				continue
			}
			done[e.Name] = true
			luaComment(&b, "`"+e.Sig+"`\n\n"+e.Body)
			var params []string
			for i, p := range e.Params {
				name := strings.TrimSuffix(strings.TrimSuffix(p, "="), "...")
				switch {
				case p == "...":
					// Lua's varargs come last; "t1, t2, ..., opts" is
					// all of them.
					fmt.Fprintf(&b, "---@param ... any\n")
					params = append(params, "...")
				}
				if len(params) > 0 && params[len(params)-1] == "..." {
					break
				}
				switch {
				case !typesIdent().MatchString(name) || name == "end" || name == "function":
					name = fmt.Sprintf("arg%d", i+1)
				}
				opt := ""
				if i > 0 || strings.HasPrefix(name, "opts") {
					opt = "?" // the docs give defaults for all but the first argument
				}
				fmt.Fprintf(&b, "---@param %s%s %s\n", name, opt, typeOf(name))
				params = append(params, name)
			}
			for _, r := range e.Results {
				name := strings.Fields(r)[0]
				if typesIdent().MatchString(name) && paramTypes[name] == "" {
					fmt.Fprintf(&b, "---@return %s %s\n", typeOf(name), name)
				} else {
					fmt.Fprintf(&b, "---@return %s\n", typeOf(r))
				}
			}
			fmt.Fprintf(&b, "function %s(%s) end\n\n", e.Name, strings.Join(params, ", "))
		}
	}
	return b.String()
}

// DocumentedNames lists every entry name in pages, sorted.
func DocumentedNames(pages []DocPage) []string {
	m := map[string]bool{}
	for _, p := range pages {
		for _, s := range p.Sections {
			for _, e := range s.Entries {
				m[e.Name] = true
			}
		}
	}
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
