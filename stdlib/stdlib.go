// Package stdlib embeds the Lua modules shipped inside fdwire: the tools,
// the topology engine and the test harness. Each file NAME.lua is the
// module "fdwire.NAME" (a file in a subfolder, a/b.lua, is "fdwire.a.b").
// They are written in the same Lua users write, on the public modules.
package stdlib

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed all:lua
var files embed.FS

// Modules maps module names ("fdwire.holder") to their source.
func Modules() map[string]string {
	out := map[string]string{}
	fs.WalkDir(files, "lua", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".lua") {
			return nil
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return nil
		}
		name := strings.TrimSuffix(strings.TrimPrefix(path, "lua/"), ".lua")
		out["fdwire."+strings.ReplaceAll(name, "/", ".")] = string(b)
		return nil
	})
	return out
}

// Names lists the module names without reading their sources, so that a
// runtime can make every module require-able at start-up and read only
// those that are required (Modules copies every file: about 1.5 ms of each
// fdwire start on the benchmark VM).
func Names() []string {
	var out []string
	fs.WalkDir(files, "lua", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".lua") {
			return nil
		}
		name := strings.TrimSuffix(strings.TrimPrefix(path, "lua/"), ".lua")
		out = append(out, "fdwire."+strings.ReplaceAll(name, "/", "."))
		return nil
	})
	return out
}

// Source returns the source of the module called name ("fdwire.a.b").
func Source(name string) (string, bool) {
	rel, ok := strings.CutPrefix(name, "fdwire.")
	if !ok {
		return "", false
	}
	b, err := files.ReadFile("lua/" + strings.ReplaceAll(rel, ".", "/") + ".lua")
	if err != nil {
		return "", false
	}
	return string(b), true
}
