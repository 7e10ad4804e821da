package luabind

import (
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sock"
)

func (rt *Runtime) openSock(L *lua.LState) {
	fns := map[string]lua.LGFunction{
		"socket":    rt.sockSocket,
		"pair":      rt.sockPair,
		"bind":      rt.sockBind,
		"listen":    rt.sockListen,
		"accept":    rt.sockAccept,
		"connect":   rt.sockConnect,
		"listen_on": rt.sockListenOn,
		"shutdown":  rt.sockShutdown,
		"sendfds":   rt.sockSendfds,
		"recvfds":   rt.sockRecvfds,
		"peer":      rt.sockPeer,
		"parse":     rt.sockParse,
	}
	for k, f := range rt.anonFunctions() { // sockanon.go
		fns[k] = f
	}
	rt.register(L, "sock", fns, append([]string{"accept", "connect", "sendfds", "recvfds"}, anonBlocking...)...)
}

// checkAddr reads an address: a string in the grammar, or an Fd handle
// (an address handle, reached through /proc/self/fd/N).
func (rt *Runtime) checkAddr(L *lua.LState, fn string, n int) addr.Addr {
	switch v := L.Get(n).(type) {
	case lua.LString:
		a, err := addr.Parse(string(v))
		if err != nil {
			rt.raise(L, err)
		}
		return a
	case *lua.LUserData:
		if f, ok := v.Value.(*fdio.FD); ok {
			num, err := f.Num()
			if err != nil {
				rt.argError(L, fn, n, "addr", "the address handle is closed (EBADF)")
			}
			return addr.Addr{Kind: addr.FD, Num: num}
		}
	}
	rt.argError(L, fn, n, "addr", "expected an address string or an address handle, got %s", typeName(L.Get(n)))
	return addr.Addr{}
}

func (rt *Runtime) checkType(L *lua.LState, fn string, n int, def int) int {
	v := L.Get(n)
	if v == lua.LNil {
		return def
	}
	s, ok := v.(lua.LString)
	if !ok {
		rt.argError(L, fn, n, "type", "expected \"stream\", \"dgram\" or \"seqpacket\", got %s", typeName(v))
	}
	t, err := sock.ParseType(string(s))
	if err != nil {
		rt.argError(L, fn, n, "type", "expected \"stream\", \"dgram\" or \"seqpacket\", got %q", string(s))
	}
	return t
}

func (rt *Runtime) sockSocket(L *lua.LState) int {
	d := rt.checkString(L, "sock.socket", 1, "domain")
	dom, ok := sock.Domains[d]
	if !ok {
		return rt.argError(L, "sock.socket", 1, "domain", "expected \"unix\", \"inet\" or \"inet6\", got %q", d)
	}
	typ := rt.checkType(L, "sock.socket", 2, unix.SOCK_STREAM)
	s, err := sock.Socket(dom, typ)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, s))
	return 1
}

func (rt *Runtime) sockPair(L *lua.LState) int {
	typ := rt.checkType(L, "sock.pair", 1, unix.SOCK_STREAM)
	a, b, err := sock.Pair(typ)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, a))
	L.Push(rt.newFd(L, b))
	return 2
}

func (rt *Runtime) sockBind(L *lua.LState) int {
	s := rt.checkOpenFd(L, "sock.bind", 1, "s")
	a := rt.checkAddr(L, "sock.bind", 2)
	if err := sock.Bind(s, a); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) sockListen(L *lua.LState) int {
	s := rt.checkOpenFd(L, "sock.listen", 1, "s")
	backlog := 0
	if v, ok := L.Get(2).(lua.LNumber); ok {
		backlog = int(v)
	}
	if err := sock.Listen(s, backlog); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) sockAccept(L *lua.LState) int {
	l := rt.checkOpenFd(L, "sock.accept", 1, "s")
	opts := rt.optTable(L, "sock.accept", 2, "opts")
	return rt.park(L, "accept", l, unix.POLLIN, optTimeout(L, opts), func() ([]lua.LValue, error) {
		c, err := sock.TryAccept(l)
		if err != nil {
			return nil, err
		}
		if l.HasTag("anon") {
			c.Tag("anon")
		}
		return []lua.LValue{rt.newFd(L, c)}, nil
	})
}

// sock.connect(addr), sock.connect(type, addr) or sock.connect(s, addr),
// each with an optional opts table.
func (rt *Runtime) sockConnect(L *lua.LState) int {
	const fn = "sock.connect"
	switch first := L.Get(1).(type) {
	case *lua.LUserData:
		if _, isFd := first.Value.(*fdio.FD); isFd && L.Get(2) != lua.LNil {
			if _, isTbl := L.Get(2).(*lua.LTable); !isTbl {
				s := rt.checkOpenFd(L, fn, 1, "s")
				a := rt.checkAddr(L, fn, 2)
				if err := sock.Connect(s, a); err != nil {
					if h := rt.addrHandle(L, 2); h != nil {
						err = sock.HandleHint(err, h)
					}
					return rt.raise(L, err)
				}
				return rt.pushOK(L, []lua.LValue{L.Get(1)})
			}
		}
	}
	var (
		a    addr.Addr
		typ  int
		opts *lua.LTable
	)
	if s, ok := L.Get(1).(lua.LString); ok && L.Get(2) != lua.LNil {
		if _, isTbl := L.Get(2).(*lua.LTable); !isTbl {
			t, err := sock.ParseType(string(s))
			if err != nil {
				return rt.argError(L, fn, 1, "type", "expected \"stream\", \"dgram\" or \"seqpacket\", got %q", string(s))
			}
			typ = t
			a = rt.checkAddr(L, fn, 2)
			opts = rt.optTable(L, fn, 3, "opts")
		}
	}
	addrArg := 2
	if typ == 0 {
		addrArg = 1
		a = rt.checkAddr(L, fn, 1)
		opts = rt.optTable(L, fn, 2, "opts")
	}
	if h := rt.addrHandle(L, addrArg); h != nil {
		// An address handle: its own type when known (sockanon.go).
		s, pending, _, err := sock.DialAddress(typ, h)
		if err != nil {
			return rt.raise(L, err)
		}
		s.Tag("anon")
		return rt.finishConnect(L, s, pending, a, opts)
	}
	if typ == 0 {
		typ = a.DefaultType()
	}
	s, pending, err := sock.Dial(typ, a)
	if err != nil {
		return rt.raise(L, err)
	}
	return rt.finishConnect(L, s, pending, a, opts)
}

// addrHandle is the Fd at argument n when it is used as an address.
func (rt *Runtime) addrHandle(L *lua.LState, n int) *fdio.FD {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if f, ok := ud.Value.(*fdio.FD); ok {
			return f
		}
	}
	return nil
}

func (rt *Runtime) sockListenOn(L *lua.LState) int {
	a := rt.checkAddr(L, "sock.listen_on", 1)
	opts := rt.optTable(L, "sock.listen_on", 2, "opts")
	typ := a.DefaultType()
	backlog := 0
	if opts != nil {
		if v := opts.RawGetString("type"); v != lua.LNil {
			t, err := sock.ParseType(lua.LVAsString(v))
			if err != nil {
				return rt.raise(L, err)
			}
			typ = t
		}
		if v, ok := opts.RawGetString("backlog").(lua.LNumber); ok {
			backlog = int(v)
		}
	}
	s, err := sock.ListenOn(a, typ, backlog)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, s))
	return 1
}

func (rt *Runtime) sockShutdown(L *lua.LState) int {
	s := rt.checkOpenFd(L, "sock.shutdown", 1, "s")
	how := "write"
	if v, ok := L.Get(2).(lua.LString); ok {
		how = string(v)
	}
	h, ok := sock.ShutdownHow[how]
	if !ok {
		return rt.argError(L, "sock.shutdown", 2, "how", "expected \"read\", \"write\" or \"both\", got %q", how)
	}
	if err := sock.Shutdown(s, h); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) sockSendfds(L *lua.LState) int {
	const fn = "sock.sendfds"
	s := rt.checkOpenFd(L, fn, 1, "s")
	list, ok := L.Get(2).(*lua.LTable)
	if !ok {
		return rt.argError(L, fn, 2, "fds", "expected a table of Fd handles, got %s", typeName(L.Get(2)))
	}
	var fds []*fdio.FD
	n := list.Len()
	for i := 1; i <= n; i++ {
		v := list.RawGetInt(i)
		ud, ok := v.(*lua.LUserData)
		f, isFd := (*fdio.FD)(nil), false
		if ok {
			f, isFd = ud.Value.(*fdio.FD)
		}
		if !isFd {
			hint := ""
			if _, num := v.(lua.LNumber); num {
				hint = " (borrow raw numbers with fd.from(n))"
			}
			return rt.argError(L, fn, 2, "fds", "fds[%d] is a %s, not an Fd handle%s", i, typeName(v), hint)
		}
		if f.Closed() {
			return rt.argError(L, fn, 2, "fds", "fds[%d] is a closed handle (EBADF)", i)
		}
		fds = append(fds, f)
	}
	var data []byte
	opts := (*lua.LTable)(nil)
	switch v := L.Get(3).(type) {
	case lua.LString:
		data = []byte(v)
		opts = rt.optTable(L, fn, 4, "opts")
	case *lua.LTable:
		opts = v
	case *lua.LNilType:
		opts = rt.optTable(L, fn, 4, "opts")
	default:
		return rt.argError(L, fn, 3, "data", "expected a string, got %s", typeName(v))
	}
	sent := false
	off := 0
	return rt.park(L, "sendfds", s, unix.POLLOUT, optTimeout(L, opts), func() ([]lua.LValue, error) {
		if !sent {
			w, err := sock.TrySendFds(s, fds, data)
			if err != nil {
				return nil, err
			}
			sent = true
			off = w
			if len(data) == 0 {
				off = 0
			}
		}
		// The fds went with the first byte; the rest of a long stream
		// payload follows as plain data.
		for off < len(data) {
			w, err := fdio.TryWrite(s, data[off:])
			if err != nil {
				return nil, err
			}
			off += w
		}
		return []lua.LValue{lua.LNumber(len(data))}, nil
	})
}

func (rt *Runtime) sockRecvfds(L *lua.LState) int {
	const fn = "sock.recvfds"
	s := rt.checkOpenFd(L, fn, 1, "s")
	opts := rt.optTable(L, fn, 2, "opts")
	o := sock.RecvOptions{}
	if opts != nil {
		if v, ok := opts.RawGetString("max").(lua.LNumber); ok {
			if v < 0 || v > sock.MaxFdsPerMessage {
				return rt.argError(L, fn, 2, "opts", "max must be from 0 to %d (SCM_MAX_FD)", sock.MaxFdsPerMessage)
			}
			o.MaxFds = int(v)
			if v == 0 {
				o.MaxFds = -1
			}
		}
		if v, ok := opts.RawGetString("size").(lua.LNumber); ok && v > 0 {
			o.MaxData = int(v)
		}
	}
	if o.MaxFds < 0 {
		o.MaxFds = 0
		o.NoFds = true
	}
	return rt.park(L, "recvfds", s, unix.POLLIN, optTimeout(L, opts), func() ([]lua.LValue, error) {
		m, err := sock.TryRecvFds(s, o)
		if err != nil {
			return nil, err
		}
		// Sized to the fds: NewTable's default hash part (a 32-entry Go
		// map, made and cleared per message) showed in the receive profile.
		list := L.CreateTable(len(m.Fds), 0)
		for _, f := range m.Fds {
			list.Append(rt.newFd(L, f))
		}
		if m.EOF {
			return []lua.LValue{list, lua.LNil}, nil
		}
		res := []lua.LValue{list, lua.LString(m.Data)}
		if m.Truncated || m.Creds != nil || m.Pidfd != nil {
			extra := L.NewTable()
			extra.RawSetString("truncated", lua.LBool(m.Truncated))
			if m.Creds != nil {
				extra.RawSetString("pid", lua.LNumber(m.Creds.Pid))
				extra.RawSetString("uid", lua.LNumber(m.Creds.Uid))
				extra.RawSetString("gid", lua.LNumber(m.Creds.Gid))
			}
			if m.Pidfd != nil {
				extra.RawSetString("pidfd", rt.newFd(L, m.Pidfd))
			}
			res = append(res, extra)
		}
		return res, nil
	})
}

func (rt *Runtime) sockPeer(L *lua.LState) int {
	s := rt.checkOpenFd(L, "sock.peer", 1, "s")
	p, err := sock.Peer(s)
	if err != nil {
		return rt.raise(L, err)
	}
	t := L.NewTable()
	t.RawSetString("pid", lua.LNumber(p.Pid))
	t.RawSetString("uid", lua.LNumber(p.Uid))
	t.RawSetString("gid", lua.LNumber(p.Gid))
	if p.Pidfd != nil {
		t.RawSetString("pidfd", rt.newFd(L, p.Pidfd))
	}
	L.Push(t)
	return 1
}

func (rt *Runtime) sockParse(L *lua.LState) int {
	s := rt.checkString(L, "sock.parse", 1, "addr")
	a, err := addr.Parse(s)
	if err != nil {
		return rt.raise(L, err)
	}
	t := L.NewTable()
	kinds := map[addr.Kind]string{addr.Unix: "unix", addr.Abstract: "abstract", addr.TCP: "tcp", addr.TCP6: "tcp6", addr.UDP: "udp", addr.UDP6: "udp6", addr.FD: "fd"}
	t.RawSetString("kind", lua.LString(kinds[a.Kind]))
	t.RawSetString("string", lua.LString(a.String()))
	switch a.Kind {
	case addr.Unix, addr.Abstract:
		t.RawSetString("path", lua.LString(a.Path))
	case addr.FD:
		t.RawSetString("fd", lua.LNumber(a.Num))
	default:
		t.RawSetString("host", lua.LString(a.IP.String()))
		t.RawSetString("port", lua.LNumber(a.Port))
	}
	L.Push(t)
	return 1
}

var _ = time.Second
