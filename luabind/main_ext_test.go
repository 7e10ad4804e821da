package luabind_test

import (
	"os"
	"testing"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/modules"
	"github.com/fdwire/fdwire/runtime/proc"
)

// TestMain lets this test binary serve as fdwire's re-exec trampoline
// (spawn with umask, rlimits or listen, and exec, need one), and as the
// small helper programs the proc tests start (see procTestHelper). It
// lives in the external test package because only from here can the
// tests reach modules.Default (which imports luabind): the in-package
// tests then build every runtime with the modules the fdwire command uses.
func TestMain(m *testing.M) {
	proc.RunTrampoline()
	if mode := os.Getenv("FDWIRE_TEST_HELPER"); mode != "" {
		os.Exit(luabind.ProcTestHelper(mode))
	}
	luabind.SetTestModules(modules.Default())
	os.Exit(m.Run())
}
