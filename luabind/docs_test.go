package luabind

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// docEntry matches a function heading in docs/*.md: "### fd.pipe() -> r, w"
// or "### Fd:read(n, opts)".
var docEntry = regexp.MustCompile(`(?m)^###\s+` + "`?" + `([A-Za-z_][A-Za-z0-9_]*[.:][A-Za-z_][A-Za-z0-9_.:]*)`)

// DocumentedFunctions reads every function heading under dir.
func documentedFunctions(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs in %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range docEntry.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = filepath.Base(f)
		}
	}
	return out
}

// TestEveryFunctionIsDocumented fails when a function registered in Lua
// has no entry in docs/, and when docs/ describes a function that no
// longer exists.
func TestEveryFunctionIsDocumented(t *testing.T) {
	rt, err := newTestRuntime(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	docs := documentedFunctions(t, "../docs")
	registered := map[string]bool{}
	for _, f := range rt.Functions() {
		registered[f] = true
		if _, ok := docs[f]; !ok {
			t.Errorf("%s is registered in Lua but has no \"### %s\" entry in docs/", f, f)
		}
	}
	for f, page := range docs {
		if !registered[f] {
			t.Errorf("docs/%s documents %s, which is not registered", page, f)
		}
	}
}
