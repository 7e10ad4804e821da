package luabind

import (
	"errors"
	"time"

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
			return rt.argError(L, fn, 1, "target", "the address handle is closed (EBADF)")
		}
		h = f
	} else {
		a = rt.checkAddr(L, fn, 1)
	}
	opts := rt.optTable(L, fn, 2, "opts")
	var o sock.ConnectorOptions
	if opts != nil {
		opts.ForEach(func(k, v lua.LValue) {
			switch lua.LVAsString(k) {
			case "type":
				t, err := sock.ParseType(lua.LVAsString(v))
				if err != nil {
					rt.argError(L, fn, 2, "opts", "type: %v", err)
				}
				o.Type = t
			case "timeout":
				d, ok := v.(lua.LNumber)
				if !ok || d <= 0 || d != d {
					rt.argError(L, fn, 2, "opts", "timeout must be a positive number of seconds")
				}
				o.Timeout = time.Duration(float64(d) * float64(time.Second))
			default:
				rt.argError(L, fn, 2, "opts", "unknown option %q (type, timeout)", lua.LVAsString(k))
			}
		})
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
	opts := rt.optTable(L, "sock.connect", 2, "opts")
	sent := false
	return rt.parkWhere(L, "connect", func() (*fdio.FD, int16) {
		if !sent {
			return h, unix.POLLOUT
		}
		return h, unix.POLLIN
	}, optTimeout(L, opts), func() ([]lua.LValue, error) {
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
