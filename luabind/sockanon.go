package luabind

// The sock functions of anonymous and long-path unix sockets (docs/anon.md):
// bind_anon, publish, bind_at, connect_at, sendto, recvfrom, setopt, getopt.

import (
	"math"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sock"
)

// anonFunctions are merged into the sock module by openSock.
func (rt *Runtime) anonFunctions() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"bind_anon":  rt.sockBindAnon,
		"publish":    rt.sockPublish,
		"bind_at":    rt.sockBindAt,
		"connect_at": rt.sockConnectAt,
		"sendto":     rt.sockSendto,
		"recvfrom":   rt.sockRecvfrom,
		"setopt":     rt.sockSetopt,
		"getopt":     rt.sockGetopt,
	}
}

// anonBlocking are the ones that may park.
var anonBlocking = []string{"connect_at", "sendto", "recvfrom"}

// optType reads opts.type, or def.
func (rt *Runtime) optType(opts Opts, def int) int {
	if !opts.Has("type") {
		return def
	}
	t, _ := sock.ParseType(opts.Enum("type", "", "stream", "dgram", "seqpacket"))
	return t
}

// sock.bind_anon{type=, backlog=, publishable=, dir=} -> listener, address
func (rt *Runtime) sockBindAnon(L *lua.LState) int {
	const fn = "sock.bind_anon"
	opts := rt.Args(L, fn).Opts(1, "opts", "type", "backlog", "publishable", "dir")
	o := sock.AnonOptions{Type: rt.optType(opts, unix.SOCK_STREAM)}
	if opts.Has("backlog") {
		o.Backlog = int(opts.Int("backlog", backlogRange(), 0))
	}
	o.Publishable = opts.Bool("publishable", false)
	o.Dir = opts.String("dir", "")
	l, h, err := sock.BindAnon(o)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, l))
	L.Push(rt.newFd(L, h))
	return 2
}

// sock.publish(address, path, {keep=})
func (rt *Runtime) sockPublish(L *lua.LState) int {
	const fn = "sock.publish"
	h := rt.checkOpenFd(L, fn, 1, "address")
	path := rt.checkPath(L, fn, 2, "path")
	opts := rt.Args(L, fn).Opts(3, "opts", "keep")
	if !sock.IsAnonAddress(h) {
		return rt.argError(L, fn, 1, "address", "%s is not an address handle from sock.bind_anon in this process", sock.Describe(h))
	}
	o := sock.PublishOptions{Keep: opts.Bool("keep", false)}
	if err := sock.Publish(h, path, o); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

// sock.bind_at(s, dirfd, name)
func (rt *Runtime) sockBindAt(L *lua.LState) int {
	const fn = "sock.bind_at"
	s := rt.checkOpenFd(L, fn, 1, "s")
	d := rt.checkOpenFd(L, fn, 2, "dirfd")
	name := rt.checkString(L, fn, 3, "name")
	if err := sock.BindAt(s, d, name); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

// sock.connect_at(dirfd, name, opts) -> s, or sock.connect_at(s, dirfd, name).
func (rt *Runtime) sockConnectAt(L *lua.LState) int {
	const fn = "sock.connect_at"
	if ud, ok := L.Get(2).(*lua.LUserData); ok {
		if _, isFd := ud.Value.(*fdio.FD); isFd {
			s := rt.checkOpenFd(L, fn, 1, "s")
			d := rt.checkOpenFd(L, fn, 2, "dirfd")
			name := rt.checkString(L, fn, 3, "name")
			if err := sock.ConnectAt(s, d, name); err != nil {
				return rt.raise(L, err)
			}
			return rt.pushOK(L, []lua.LValue{L.Get(1)})
		}
	}
	d := rt.checkOpenFd(L, fn, 1, "dirfd")
	name := rt.checkPath(L, fn, 2, "name")
	opts := rt.Args(L, fn).Opts(3, "opts", "type", "timeout")
	typ := rt.optType(opts, unix.SOCK_STREAM)
	timeout := opts.Timeout()
	s, pending, err := sock.DialAt(typ, d, name)
	if err != nil {
		return rt.raise(L, err)
	}
	return rt.finishConnect(L, s, pending, addr.Addr{Kind: addr.Unix, Path: name}, timeout)
}

// finishConnect returns s at once or parks until a pending connect ends.
func (rt *Runtime) finishConnect(L *lua.LState, s *fdio.FD, pending bool, a addr.Addr, timeout time.Duration) int {
	ud := rt.newFd(L, s)
	if !pending {
		return rt.pushOK(L, []lua.LValue{ud})
	}
	started := false
	return rt.park(L, "connect", s, unix.POLLOUT, timeout, func() ([]lua.LValue, error) {
		if !started {
			started = true
			return nil, fdio.ErrAgain
		}
		if err := sock.FinishDial(s, a); err != nil {
			return nil, err
		}
		return []lua.LValue{ud}, nil
	})
}

// sock.sendto(s, addr, data, opts) -> bytes sent
func (rt *Runtime) sockSendto(L *lua.LState) int {
	const fn = "sock.sendto"
	s := rt.checkOpenFd(L, fn, 1, "s")
	a := rt.checkAddr(L, fn, 2)
	data := rt.checkString(L, fn, 3, "data")
	opts := rt.Args(L, fn).Opts(4, "opts", "timeout")
	return rt.park(L, "sendto", s, unix.POLLOUT, opts.Timeout(), func() ([]lua.LValue, error) {
		w, err := sock.TrySendTo(s, a, []byte(data))
		if err != nil {
			return nil, err
		}
		return []lua.LValue{lua.LNumber(w)}, nil
	})
}

// sock.recvfrom(s, {size=, timeout=}) -> data, from, truncated
func (rt *Runtime) sockRecvfrom(L *lua.LState) int {
	const fn = "sock.recvfrom"
	s := rt.checkOpenFd(L, fn, 1, "s")
	opts := rt.Args(L, fn).Opts(2, "opts", "size", "timeout")
	size := int(opts.Int("size", RangeSize, 0))
	return rt.park(L, "recvfrom", s, unix.POLLIN, opts.Timeout(), func() ([]lua.LValue, error) {
		data, from, trunc, err := sock.TryRecvFrom(s, size)
		if err != nil {
			return nil, err
		}
		var f lua.LValue = lua.LNil
		if from != "" {
			f = lua.LString(from)
		}
		return []lua.LValue{lua.LString(data), f, lua.LBool(trunc)}, nil
	})
}

func (rt *Runtime) checkOption(L *lua.LState, fn string) sock.Option {
	name := rt.checkString(L, fn, 2, "name")
	o, ok := sock.LookupOption(name)
	if !ok {
		rt.argError(L, fn, 2, "name", "unknown option %q (known: %v)", name, sock.OptionNames())
	}
	return o
}

// sock.setopt(s, name, value)
func (rt *Runtime) sockSetopt(L *lua.LState) int {
	const fn = "sock.setopt"
	s := rt.checkOpenFd(L, fn, 1, "s")
	o := rt.checkOption(L, fn)
	v := 0
	switch x := L.Get(3).(type) {
	case lua.LBool:
		if !o.Bool {
			return rt.argError(L, fn, 3, "value", "%s takes a number", lua.LVAsString(L.Get(2)))
		}
		if x {
			v = 1
		}
	case lua.LNumber:
		v = int(rt.Args(L, fn).Int(3, "value", Range{math.MinInt32, math.MaxInt32, "an option value", "an int"}))
	default:
		return rt.argError(L, fn, 3, "value", "expected a boolean or a number, got %s", typeName(x))
	}
	if err := sock.SetOption(s, o, v); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

// sock.getopt(s, name) -> boolean or number
func (rt *Runtime) sockGetopt(L *lua.LState) int {
	const fn = "sock.getopt"
	s := rt.checkOpenFd(L, fn, 1, "s")
	o := rt.checkOption(L, fn)
	v, err := sock.GetOption(s, o)
	if err != nil {
		return rt.raise(L, err)
	}
	if o.Bool {
		L.Push(lua.LBool(v != 0))
	} else {
		L.Push(lua.LNumber(v))
	}
	return 1
}
