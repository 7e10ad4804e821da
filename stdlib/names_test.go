package stdlib

import "testing"

// TestNamesAndSourceMatchModules: the lazy pair gives exactly what the
// eager Modules map holds.
func TestNamesAndSourceMatchModules(t *testing.T) {
	mods := Modules()
	names := Names()
	if len(names) != len(mods) || len(names) == 0 {
		t.Fatalf("Names has %d modules, Modules %d", len(names), len(mods))
	}
	for _, n := range names {
		src, ok := Source(n)
		if !ok || src != mods[n] {
			t.Errorf("Source(%q) differs from Modules()", n)
		}
	}
	for _, bad := range []string{"fdwire.nope", "util", "fdwire.", ""} {
		if _, ok := Source(bad); ok {
			t.Errorf("Source(%q) found something", bad)
		}
	}
}
