package luabind

import (
	"os"
	"testing"

	"github.com/fdwire/fdwire/runtime/proc"
)

// TestMain lets this test binary serve as fdwire's re-exec trampoline
// (spawn with umask, rlimits or listen, and exec, need one), and as the
// small helper programs the proc tests start (see procTestHelper).
func TestMain(m *testing.M) {
	proc.RunTrampoline()
	if mode := os.Getenv("FDWIRE_TEST_HELPER"); mode != "" {
		os.Exit(procTestHelper(mode))
	}
	os.Exit(m.Run())
}
