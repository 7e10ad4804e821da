package luabind

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
	"github.com/fdwire/fdwire/runtime/sock"
)

// Network namespaces of fdwire's own (runtime/ns/netns.go): sock.netns()
// makes one, sock.listen_in makes a listening socket inside one. A
// topology with netns = true uses both, and joins its processes to it.

func (rt *Runtime) netnsFunctions() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{"netns": rt.sockNetns, "listen_in": rt.sockListenIn}
}

// sock.netns() -> handle of a new network namespace (loopback up)
func (rt *Runtime) sockNetns(L *lua.LState) int {
	h, err := ns.NewNetns()
	if err != nil {
		return rt.raise(L, err)
	}
	h.Tag("netns")
	L.Push(rt.newFd(L, h))
	return 1
}

// sock.listen_in(netns, addr, opts) -> s: sock.listen_on inside netns.
func (rt *Runtime) sockListenIn(L *lua.LState) int {
	const fn = "sock.listen_in"
	h := rt.checkOpenFd(L, fn, 1, "netns")
	a := rt.checkAddr(L, fn, 2)
	opts := rt.Args(L, fn).Opts(3, "opts", "type", "backlog")
	typ := rt.optType(opts, a.DefaultType())
	backlog := int(opts.Int("backlog", backlogRange(), 0))
	var s *fdio.FD
	err := ns.InNetns(h, func() error {
		var err error
		s, err = sock.ListenOn(a, typ, backlog)
		return err
	})
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, s))
	return 1
}
