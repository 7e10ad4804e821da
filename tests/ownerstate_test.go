package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRuntimeHasNoPackageMaps is issue 13's Done-when as a test: `grep -rn
// 'var .* = map\|var .*registry' runtime/` finds nothing, so no owner
// state (or anything that could become it) sits in a package variable of
// runtime/; read-only tables are arrays, sorted slices or switches.
func TestRuntimeHasNoPackageMaps(t *testing.T) {
	re := regexp.MustCompile(`var .* = map|var .*registry`)
	filepath.WalkDir(filepath.Join(repoRoot, "runtime"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if re.MatchString(line) {
				rel, _ := filepath.Rel(repoRoot, path)
				t.Errorf("%s:%d: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
}
