package luabind

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/addr"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sock"
	"github.com/fdwire/fdwire/runtime/sys"
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
	for k, f := range rt.connectorFunctions() { // sock_connector.go
		fns[k] = f
	}
	for k, f := range rt.netnsFunctions() { // sock_netns.go
		fns[k] = f
	}
	for k, f := range rt.manyFunctions() { // sock_many.go
		fns[k] = f
	}
	blocking := append([]string{"accept", "connect", "sendfds", "recvfds"}, anonBlocking...)
	rt.register(L, "sock", fns, append(blocking, manyBlocking...)...)
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
				rt.argErrno(L, unix.EBADF, fn, n, "addr", "the address handle is closed")
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
	dom, ok := sock.DomainByName(d)
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
	if L.Get(2) != lua.LNil { // somaxconn is read only when a backlog is given
		backlog = int(rt.Args(L, "sock.listen").Int(2, "backlog", backlogRange()))
	}
	if err := sock.Listen(s, backlog); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) sockAccept(L *lua.LState) int {
	l := rt.checkOpenFd(L, "sock.accept", 1, "s")
	opts := rt.Args(L, "sock.accept").Opts(2, "opts", "timeout")
	return rt.park(L, "accept", l, unix.POLLIN, opts.Timeout(), func() ([]lua.LValue, error) {
		c, sa, err := sock.TryAcceptFrom(l)
		if err != nil {
			return nil, err
		}
		if l.HasTag("anon") {
			c.Tag("anon")
		}
		// The peer's address comes with the accept: a server that logs it
		// needs no fd.info (eleven system calls) per connection.
		var peer lua.LValue = lua.LNil
		if a := addr.FormatSockaddr(sa, unix.SOCK_STREAM); a != "" {
			peer = lua.LString(a)
		}
		return []lua.LValue{rt.newFd(L, c), peer}, nil
	})
}

// sock.connect(addr), sock.connect(type, addr) or sock.connect(s, addr),
// each with an optional opts table.
func (rt *Runtime) sockConnect(L *lua.LState) int {
	const fn = "sock.connect"
	if n, ok := rt.connectViaConnector(L); ok { // sock_connector.go
		return n
	}
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
		opts Opts
	)
	args := rt.Args(L, fn)
	if s, ok := L.Get(1).(lua.LString); ok && L.Get(2) != lua.LNil {
		if _, isTbl := L.Get(2).(*lua.LTable); !isTbl {
			t, err := sock.ParseType(string(s))
			if err != nil {
				return rt.argError(L, fn, 1, "type", "expected \"stream\", \"dgram\" or \"seqpacket\", got %q", string(s))
			}
			typ = t
			a = rt.checkAddr(L, fn, 2)
			opts = args.Opts(3, "opts", "timeout")
		}
	}
	addrArg := 2
	if typ == 0 {
		addrArg = 1
		a = rt.checkAddr(L, fn, 1)
		opts = args.Opts(2, "opts", "timeout")
	}
	timeout := opts.Timeout() // checked before anything is dialled
	if h := rt.addrHandle(L, addrArg); h != nil {
		// An address handle: its own type when known (sockanon.go).
		s, pending, _, err := sock.DialAddress(typ, h)
		if err != nil {
			return rt.raise(L, err)
		}
		s.Tag("anon")
		return rt.finishConnect(L, s, pending, a, timeout)
	}
	if typ == 0 {
		typ = a.DefaultType()
	}
	s, pending, err := sock.Dial(typ, a)
	if err != nil {
		return rt.raise(L, err)
	}
	return rt.finishConnect(L, s, pending, a, timeout)
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
	opts := rt.Args(L, "sock.listen_on").Opts(2, "opts", "type", "backlog")
	typ := rt.optType(opts, a.DefaultType())
	backlog := 0
	if opts.Has("backlog") {
		backlog = int(opts.Int("backlog", backlogRange(), 0))
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
	if L.Get(2) != lua.LNil {
		how = rt.checkString(L, "sock.shutdown", 2, "how")
	}
	h, ok := sock.ShutdownHow(how)
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
	var fds []*fdio.FD
	var small [4]*fdio.FD // the usual one or few descriptors, without an allocation
	// The numbers, read once while each entry is checked open, for the
	// first try below (the check and the send are one step: no Lua code
	// runs between them). A longer list is read again at the send.
	var numBuf [16]int
	nums := numBuf[:0]
	list, ok := L.Get(2).(*lua.LTable)
	n := 0
	batch, isBatch := rawBatchOf(L.Get(2))
	if isBatch {
		// Sent as numbers: no handle is made for untouched entries.
		for i := 0; i < batch.Len(); i++ {
			num := batch.Num(i)
			if num < 0 {
				return rt.argErrno(L, unix.EBADF, fn, 2, "fds", "fds[%d] (a batch entry) is a closed handle", i+1)
			}
			if len(nums) < cap(nums) {
				nums = append(nums, num)
			}
		}
	} else if !ok {
		return rt.argError(L, fn, 2, "fds", "expected a table of Fd handles or an FdBatch, got %s", typeName(L.Get(2)))
	} else {
		n = list.Len()
		if n <= len(small) {
			fds = small[:0]
		} else {
			fds = make([]*fdio.FD, 0, n)
		}
	}
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
		num := f.Raw()
		if num < 0 {
			return rt.argErrno(L, unix.EBADF, fn, 2, "fds", "fds[%d] is a closed handle", i)
		}
		fds = append(fds, f)
		if len(nums) < cap(nums) {
			nums = append(nums, num)
		}
	}
	var data []byte
	args := rt.Args(L, fn)
	var opts Opts
	switch v := L.Get(3).(type) {
	case lua.LString:
		// The string's own bytes (sendmsg only reads them; the string is
		// on the Lua stack, and the wait below keeps data alive).
		data = unsafe.Slice(unsafe.StringData(string(v)), len(v))
		opts = args.Opts(4, "opts", "timeout")
	case *lua.LTable:
		opts = args.Opts(3, "opts", "timeout")
	case *lua.LNilType:
		opts = args.Opts(4, "opts", "timeout")
	default:
		return rt.argError(L, fn, 3, "data", "expected a string, got %s", typeName(v))
	}
	count := len(fds)
	if isBatch {
		count = batch.Len()
	}
	// Refused before anything is sent: only AF_UNIX carries SCM_RIGHTS,
	// and TCP or UDP would take the data and drop the descriptors.
	if count > 0 {
		if err := sock.CanCarryFds(s); err != nil {
			return rt.argErrno(L, sys.ErrnoOf(err), fn, 1, "s", "%s", errMsg(err))
		}
	}
	timeout := opts.Timeout() // checked before anything is sent
	// Most sends go out at once: try here, where nothing escapes, and
	// build the waiting machinery (closures, a copy of fds) only for a
	// send that has to wait or finish a long stream payload. The
	// condition is parkCall's own for trying first.
	if canTryFirst(rt, L) {
		var w int
		var err error
		if len(nums) == count {
			w, err = sock.TrySendNums(s, nums, data)
		} else {
			w, err = trySendFirst(s, fds, batch, isBatch, data)
		}
		switch {
		case err == nil && (len(data) == 0 || w >= len(data)):
			L.Push(lua.LTrue)
			L.Push(boxedInt(len(data)))
			return 2
		case err == nil: // the fds went with the first bytes; the rest follows
			return rt.sendfdsWait(L, s, nil, nil, false, data, count, timeout, true, w, true)
		case !fdio.IsAgain(err): // nothing went: no progress to report
			return rt.raise(L, err)
		}
		return rt.sendfdsWait(L, s, append([]*fdio.FD(nil), fds...), batch, isBatch, data, count, timeout, false, 0, true)
	}
	return rt.sendfdsWait(L, s, append([]*fdio.FD(nil), fds...), batch, isBatch, data, count, timeout, false, 0, false)
}

// boxedInt is n as a Lua value, shared for small n (a number put in an
// interface is an allocation).
func boxedInt(n int) lua.LValue {
	if n >= 0 && n < len(smallKeys) {
		return smallKeys[n]
	}
	return lua.LNumber(n)
}

// trySendFirst is sendfds's first attempt, which carries the descriptors
// (a batch's numbers, or the handles') with the first bytes.
func trySendFirst(s *fdio.FD, fds []*fdio.FD, batch *fdio.Batch, isBatch bool, data []byte) (int, error) {
	if isBatch {
		return sock.TrySendBatch(s, batch, data)
	}
	return sock.TrySendFds(s, fds, data)
}

// sendfdsWait is sock.sendfds that waits for room: from the start (sent
// false), or, once the descriptors went with the first off bytes, for the
// rest of a stream payload. tried says sockSendfds has just tried (and
// canTryFirst held), so the wait needs no try before it.
func (rt *Runtime) sendfdsWait(L *lua.LState, s *fdio.FD, fds []*fdio.FD, batch *fdio.Batch, isBatch bool, data []byte, count int, timeout time.Duration, sent bool, off int, tried bool) int {
	where := func() (*fdio.FD, int16) { return s, unix.POLLOUT }
	// Once the descriptors have gone (with the first byte), an error on
	// the rest of a long stream payload still says so: delivered = n,
	// written = bytes, and the op stays sendfds.
	progress := func(e *lua.LTable) {
		if sent {
			e.RawSetString("op", lua.LString("sendfds"))
			e.RawSetString("delivered", lua.LNumber(count))
			e.RawSetString("written", lua.LNumber(off))
			e.RawSetString("msg", lua.LString(lua.LVAsString(e.RawGetString("msg"))+fmt.Sprintf(" (after the %d descriptors and %d of %d bytes were delivered)", count, off, len(data))))
		}
	}
	try := func() ([]lua.LValue, error) {
		if !sent {
			w, err := trySendFirst(s, fds, batch, isBatch, data)
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
	}
	if tried {
		return rt.parkAfterTry(L, "sendfds", where, timeout, try, progress)
	}
	return rt.parkCall(L, "sendfds", where, timeout, try, progress)
}

// rangeMaxFds is recvfds's opts.max.
var rangeMaxFds = Range{0, sock.MaxFdsPerMessage, "a descriptor count", "SCM_MAX_FD"}

func (rt *Runtime) sockRecvfds(L *lua.LState) int {
	const fn = "sock.recvfds"
	s := rt.checkOpenFd(L, fn, 1, "s")
	o, timeout, ok := recvOptsQuick(L.Get(2))
	if !ok {
		// (it raises: the quick read refuses only what this check refuses)
		o = sock.RecvOptions{}
		opts := rt.Args(L, fn).Opts(2, "opts", "max", "size", "timeout", "batch")
		batch := opts.Bool("batch", false)
		if opts.Has("max") {
			o.MaxFds = int(opts.Int("max", rangeMaxFds, 0))
			o.NoFds = o.MaxFds == 0
		}
		o.MaxData = int(opts.Int("size", RangeSize, 0))
		o.Raw = batch
		timeout = opts.Timeout()
	}
	// Most receives find a message queued: try here, where nothing
	// escapes (the closures of a wait, a result slice), as sendfds does.
	if canTryFirst(rt, L) {
		var buf [3]lua.LValue
		res, err := rt.recvOnce(L, s, o, buf[:0])
		switch {
		case err == nil:
			return rt.pushOK(L, res)
		case !fdio.IsAgain(err):
			return rt.raise(L, err)
		}
		return rt.parkAfterTry(L, "recvfds", func() (*fdio.FD, int16) { return s, unix.POLLIN }, timeout, func() ([]lua.LValue, error) {
			return rt.recvOnce(L, s, o, nil)
		}, nil)
	}
	return rt.park(L, "recvfds", s, unix.POLLIN, timeout, func() ([]lua.LValue, error) {
		return rt.recvOnce(L, s, o, nil)
	})
}

// recvOptsQuick reads recvfds's options in one pass over the table's keys
// (the generic check walks the keys, then looks each option up: twice
// the table lookups, per message). It takes only what is valid (ok);
// anything else is left to the generic check, which raises the error.
func recvOptsQuick(v lua.LValue) (o sock.RecvOptions, timeout time.Duration, ok bool) {
	maxV, sizeV, timeoutV := lua.LValue(lua.LNil), lua.LValue(lua.LNil), lua.LValue(lua.LNil)
	switch t := v.(type) {
	case *lua.LNilType:
	case *lua.LTable:
		for k, x := t.Next(lua.LNil); k != lua.LNil; k, x = t.Next(k) {
			ks, isStr := k.(lua.LString)
			if !isStr {
				return o, 0, false
			}
			switch ks {
			case "max":
				maxV = x
			case "size":
				sizeV = x
			case "timeout":
				timeoutV = x
			case "batch":
				b, isBool := x.(lua.LBool)
				if !isBool {
					return o, 0, false
				}
				o.Raw = bool(b)
			default:
				return o, 0, false
			}
		}
	default:
		return o, 0, false
	}
	if maxV != lua.LNil {
		n, why := IntValue(maxV, rangeMaxFds)
		if why != "" {
			return o, 0, false
		}
		o.MaxFds, o.NoFds = int(n), n == 0
	}
	if sizeV != lua.LNil {
		n, why := IntValue(sizeV, RangeSize)
		if why != "" {
			return o, 0, false
		}
		o.MaxData = int(n)
	}
	timeout, why := TimeoutValue(timeoutV)
	return o, timeout, why == ""
}

// recvScratch is one receive's reusable state: the message (with its data
// buffer and number list) and the last data string made, boxed, which the
// next message with the same bytes shares (a run of equal small control
// messages is the common case; a string in an interface is an
// allocation). Only buffers and immutable strings: no owner state.
type recvScratch struct {
	m       sock.Message
	last    lua.LValue
	lastStr string
}

var recvScratchPool = sync.Pool{New: func() any { return &recvScratch{} }}

// recvScratchMax is the largest data buffer a pooled receive keeps; a
// larger receive gets its own (one huge receive must not pin its buffer).
const recvScratchMax = 1 << 16

// recvOnce is one sock.recvfds try: its results appended to dst (list or
// batch, data, and extra when the kernel said more), or EAGAIN.
func (rt *Runtime) recvOnce(L *lua.LState, s *fdio.FD, o sock.RecvOptions, dst []lua.LValue) ([]lua.LValue, error) {
	var m *sock.Message
	var rs *recvScratch
	if o.MaxData <= recvScratchMax {
		rs = recvScratchPool.Get().(*recvScratch)
		defer recvScratchPool.Put(rs)
		if err := sock.TryRecvFdsInto(s, o, &rs.m); err != nil {
			return nil, err
		}
		m = &rs.m
	} else {
		var err error
		if m, err = sock.TryRecvFds(s, o); err != nil {
			return nil, err
		}
	}
	var list lua.LValue
	if o.Raw {
		list = rt.newRawBatch(L, m.Nums)
	} else {
		// Sized to the fds: NewTable's default hash part (a 32-entry Go
		// map, made and cleared per message) showed in the receive profile.
		t := L.CreateTable(len(m.Fds), 0)
		for _, f := range m.Fds {
			t.Append(rt.newFd(L, f))
		}
		list = t
	}
	if m.EOF {
		return append(dst, list, lua.LNil), nil
	}
	var data lua.LValue
	switch {
	case rs == nil:
		data = lua.LString(m.Data)
	case rs.last != nil && len(m.Data) == len(rs.lastStr) && string(m.Data) == rs.lastStr:
		data = rs.last
	default:
		rs.lastStr = string(m.Data)
		rs.last = lua.LString(rs.lastStr)
		data = rs.last
		if len(m.Data) > 256 {
			rs.last, rs.lastStr = nil, "" // keep only small strings
		}
	}
	dst = append(dst, list, data)
	if m.Truncated || m.Creds != nil || m.Pidfd != nil {
		extra := L.CreateTable(0, 5)
		extra.RawSetString("truncated", lua.LBool(m.Truncated))
		rt.setSender(L, extra, m)
		dst = append(dst, extra)
	}
	return dst, nil
}

// setSender puts what the kernel said of a message's sender into t:
// pid, uid and gid (SCM_CREDENTIALS) and pidfd (SCM_PIDFD, now owned),
// as recvfds' extra and each recvfds_many message show them.
func (rt *Runtime) setSender(L *lua.LState, t *lua.LTable, m *sock.Message) {
	if m.Creds != nil {
		t.RawSetString("pid", lua.LNumber(m.Creds.Pid))
		t.RawSetString("uid", lua.LNumber(m.Creds.Uid))
		t.RawSetString("gid", lua.LNumber(m.Creds.Gid))
	}
	if m.Pidfd != nil {
		t.RawSetString("pidfd", rt.newFd(L, m.Pidfd))
	}
}

func (rt *Runtime) sockPeer(L *lua.LState) int {
	s := rt.checkOpenFd(L, "sock.peer", 1, "s")
	p, err := sock.Peer(s)
	if err != nil {
		return rt.raise(L, err)
	}
	t := L.CreateTable(0, 4)
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
	t := L.CreateTable(0, 4)
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

// backlogRange is 0 (SOMAXCONN) up to net.core.somaxconn: the kernel
// silently lowers a larger backlog to it, so a larger one is refused.
func backlogRange() Range {
	r := Range{0, math.MaxInt32, "a listen backlog", "0 for the system's maximum"}
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			r.Max = n
			r.Note = "0 for the system's maximum; above net.core.somaxconn the kernel would silently use that instead"
		}
	}
	return r
}
