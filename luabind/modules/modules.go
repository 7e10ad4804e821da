// Package modules lists the Lua modules beyond luabind's core that the
// fdwire command opens: the tools' helpers (fs, user, clock, fd.ready,
// holder) and the topology support. Tests build their runtimes from the
// same list, so what they check is what users get.
package modules

import (
	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/helpers"
	"github.com/fdwire/fdwire/luabind/topobind"
)

// Default is every module the fdwire command opens, in order.
func Default() []luabind.Module {
	return append(helpers.Modules(), topobind.Module())
}
