package luabind

// Bridges for main_ext_test.go (package luabind_test).

// ProcTestHelper is procTestHelper, run when this binary is a helper child.
var ProcTestHelper = procTestHelper

// testModules are the modules every test runtime opens (set by TestMain to
// modules.Default()).
var testModules []Module

// SetTestModules sets the modules newTestRuntime opens.
func SetTestModules(ms []Module) { testModules = ms }

// newTestRuntime is New with the test modules.
func newTestRuntime(o Options) (*Runtime, error) {
	o.Modules = testModules
	return New(o)
}
