package luabind

import (
	"errors"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sock"
)

// Connectors (runtime/sock/connector.go): sock.connector(target) makes
// one, and sock.connect recognises one as it recognises an address
// handle.

func (rt *Runtime) connectorFunctions() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{"connector": rt.sockConnector}
}

// sock.connector(addr_handle_or_address, {type =, timeout =}) -> handle
func (rt *Runtime) sockConnector(L *lua.LState) int {
	const fn = "sock.connector"
	var (
		h *fdio.FD
		a addr.Addr
	)
	if f := rt.addrHandle(L, 1); f != nil {
		if f.Closed() {
			return rt.argErrno(L, unix.EBADF, fn, 1, "target", "the address handle is closed")
		}
		h = f
	} else {
		a = rt.checkAddr(L, fn, 1)
	}
	opts := rt.Args(L, fn).Opts(2, "opts", "type", "timeout")
	var o sock.ConnectorOptions
	if opts.Has("type") {
		o.Type = rt.optType(opts, 0)
	}
	if opts.Has("timeout") {
		// How long the connector tries on the client's behalf: a finite,
		// positive number of seconds.
		d, forever, why := DurationValue(opts.Get("timeout"))
		switch {
		case why != "":
			opts.Error("timeout", "%s", why)
		case d == 0 || forever:
			opts.Error("timeout", "must be a positive, finite number of seconds")
		}
		o.Timeout = d
	}
	_, cli, err := sock.NewConnector(h, a, o)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, cli))
	return 1
}

// connectViaConnector handles sock.connect(connector, opts); ok is false
// when argument 1 is not a connector.
func (rt *Runtime) connectViaConnector(L *lua.LState) (n int, ok bool) {
	h := rt.addrHandle(L, 1)
	if h == nil || h.Closed() || !sock.IsConnector(h) {
		return 0, false
	}
	if _, ok := L.Get(2).(*lua.LTable); L.Get(2) != lua.LNil && !ok {
		return 0, false
	}
	timeout := rt.Args(L, "sock.connect").Opts(2, "opts", "timeout").Timeout()
	sent := false
	return rt.parkWhere(L, "connect", func() (*fdio.FD, int16) {
		if !sent {
			return h, unix.POLLOUT
		}
		return h, unix.POLLIN
	}, timeout, func() ([]lua.LValue, error) {
		if !sent {
			if err := sock.TryRequestConnection(h); err != nil {
				return nil, err
			}
			sent = true
		}
		s, err := sock.TryReceiveConnection(h)
		if err != nil {
			if errors.Is(err, fdio.ErrAgain) {
				return nil, fdio.ErrAgain
			}
			return nil, err
		}
		return []lua.LValue{rt.newFd(L, s)}, nil
	}), true
}
