package luabind

import (
	"fmt"
	"sync"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sock"
	"github.com/fdwire/fdwire/runtime/sys"
)

// sock.sendfds_many and sock.recvfds_many: many small messages, each with
// its own descriptors, per system call (sendmmsg/recvmmsg; runtime/sock
// many.go). A message is the same value both ways, {data, fd, fd, ...}, so
// what recvfds_many returns can be passed to sendfds_many as it is.

var manyBlocking = []string{"sendfds_many", "recvfds_many"}

func (rt *Runtime) manyFunctions() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{"sendfds_many": rt.sockSendfdsMany, "recvfds_many": rt.sockRecvfdsMany}
}

// RangeMsgCount is how many messages one recvfds_many takes: the kernel
// reads at most UIO_MAXIOV headers per recvmmsg.
var RangeMsgCount = Range{1, sys.MaxMmsgBatch, "a message count", "recvmmsg takes at most 1024 (UIO_MAXIOV) messages per call"}

var manySendPool = sync.Pool{New: func() any { return &sock.ManySend{Op: "sendfds_many"} }}

// bytesOf is s's bytes without a copy: the kernel only reads them, and the
// string outlives the call (the Lua table holding it is an argument).
func bytesOf(s lua.LString) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(string(s)), len(s))
}

// sock.sendfds_many(s, msgs, opts) -> n: every message of msgs, in order.
func (rt *Runtime) sockSendfdsMany(L *lua.LState) int {
	const fn = "sock.sendfds_many"
	s := rt.checkOpenFd(L, fn, 1, "s")
	list, ok := L.Get(2).(*lua.LTable)
	if !ok {
		return rt.argError(L, fn, 2, "msgs", "expected a list of messages ({data, fd...} or {data =, fds =}), got %s", typeName(L.Get(2)))
	}
	opts := rt.Args(L, fn).Opts(3, "opts", "timeout")
	timeout := opts.Timeout()
	m := manySendPool.Get().(*sock.ManySend)
	m.Reset()
	n := list.Len()
	if k := extraKey(list, n); k != lua.LNil {
		return rt.argError(L, fn, 2, "msgs", "expected a list of messages, and key %s is not a position in it", keyText(k))
	}
	for i := 1; i <= n; i++ {
		rt.addMessage(L, fn, m, list.RawGetInt(i), i)
	}
	// Refused before anything is sent: the whole list goes or none of it.
	if len(m.Fds) > 0 {
		if err := sock.CanCarryFds(s); err != nil {
			return rt.argErrno(L, sys.ErrnoOf(err), fn, 1, "s", "%s", errMsg(err))
		}
	}
	if err := m.Check(s); err != nil {
		return rt.raise(L, err)
	}
	total := m.Len()
	// Whatever ends the call early (an error, the timeout, a cancel) says
	// how many messages the peer has whole: sent, and, when a stream took
	// part of the next one, that its descriptors went too.
	progress := func(e *lua.LTable) {
		e.RawSetString("op", lua.LString("sendfds_many"))
		e.RawSetString("sent", lua.LNumber(m.Sent))
		e.RawSetString("msg", lua.LString(lua.LVAsString(e.RawGetString("msg"))+fmt.Sprintf(" (after %d of %d messages were delivered)", m.Sent, total)))
	}
	where := func() (*fdio.FD, int16) { return s, unix.POLLOUT }
	return rt.parkCall(L, "sendfds_many", where, timeout, func() ([]lua.LValue, error) {
		if err := m.Try(s); err != nil {
			return nil, err
		}
		m.Reset()
		manySendPool.Put(m)
		return []lua.LValue{lua.LNumber(total)}, nil
	}, progress)
}

// extraKey is a key of t beyond its list part 1..n (nil when none), so a
// stray key is refused rather than ignored.
func extraKey(t *lua.LTable, n int) lua.LValue {
	var k lua.LValue
	switch {
	case n == 0:
		k, _ = t.Next(lua.LNil)
	case n < len(smallKeys):
		k, _ = t.Next(smallKeys[n])
	default:
		k, _ = t.Next(lua.LNumber(n))
	}
	return k
}

// smallKeys are the numbers 0..255 already boxed as Lua values (a number
// put in an interface is an allocation, once per message otherwise).
var smallKeys = func() (k [256]lua.LValue) {
	for i := range k {
		k[i] = lua.LNumber(i)
	}
	return
}()

func keyText(k lua.LValue) string {
	if s, ok := k.(lua.LString); ok {
		return fmt.Sprintf("%q", string(s))
	}
	return lua.LVAsString(k)
}

// addMessage checks msgs[i] and appends it to m: a string (data only),
// {data, fd-or-batch, ...} or {data = "...", fds = {...} | batch}.
func (rt *Runtime) addMessage(L *lua.LState, fn string, m *sock.ManySend, v lua.LValue, i int) {
	bad := func(errno unix.Errno, format string, args ...any) {
		rt.msgError(L, fn, i, errno, format, args...)
	}
	start := len(m.Fds)
	var data lua.LString
	switch t := v.(type) {
	case lua.LString:
		m.Add(bytesOf(t))
		return
	case *lua.LTable:
		if first := t.RawGetInt(1); first != lua.LNil {
			// {data, fd, fd, ...}
			d, ok := first.(lua.LString)
			if !ok {
				bad(unix.EINVAL, "[1] (the data) is a %s, not a string", typeName(first))
			}
			data = d
			n := t.Len()
			if k := extraKey(t, n); k != lua.LNil {
				bad(unix.EINVAL, " has key %s: a message is {data, fd, ...} or {data = ..., fds = {...}}, not both", keyText(k))
			}
			for j := 2; j <= n; j++ {
				m.Fds = rt.appendMsgFd(L, fn, i, m.Fds, t.RawGetInt(j), "", j)
			}
		} else {
			// {data = "...", fds = {...} | batch}
			var fds lua.LValue = lua.LNil
			for k, x := t.Next(lua.LNil); k != lua.LNil; k, x = t.Next(k) {
				switch k {
				case lua.LString("data"):
					d, ok := x.(lua.LString)
					if !ok {
						bad(unix.EINVAL, ".data is a %s, not a string", typeName(x))
					}
					data = d
				case lua.LString("fds"):
					fds = x
				default:
					name := keyText(k)
					hint := ""
					if s, ok := k.(lua.LString); ok {
						hint = DidYouMean(string(s), []string{"data", "fds"})
					}
					bad(unix.EINVAL, " has unknown key %s%s (a message is {data, fd, ...} or {data = ..., fds = {...}})", name, hint)
				}
			}
			switch f := fds.(type) {
			case *lua.LNilType:
			case *lua.LTable:
				n := f.Len()
				if k := extraKey(f, n); k != lua.LNil {
					bad(unix.EINVAL, ".fds has key %s: expected a list of Fd handles", keyText(k))
				}
				for j := 1; j <= n; j++ {
					m.Fds = rt.appendMsgFd(L, fn, i, m.Fds, f.RawGetInt(j), ".fds", j)
				}
			default:
				if _, ok := batchOf(f); !ok {
					bad(unix.EINVAL, ".fds is a %s, not a list of Fd handles or an FdBatch", typeName(f))
				}
				m.Fds = rt.appendMsgFd(L, fn, i, m.Fds, f, ".fds", 0)
			}
		}
	default:
		bad(unix.EINVAL, " is a %s: a message is a string, {data, fd, ...} or {data = ..., fds = {...}}", typeName(v))
	}
	if k := len(m.Fds) - start; k > sock.MaxFdsPerMessage {
		bad(unix.EINVAL, " has %d fds: the kernel accepts at most %d per message (SCM_MAX_FD); split them over several messages", k, sock.MaxFdsPerMessage)
	}
	m.Data = append(m.Data, bytesOf(data))
	m.Ends = append(m.Ends, len(m.Fds))
}

// msgError raises an argument error about msgs[i].
func (rt *Runtime) msgError(L *lua.LState, fn string, i int, errno unix.Errno, format string, args ...any) {
	rt.argErrno(L, errno, fn, 2, "msgs", "msgs[%d]%s", i, fmt.Sprintf(format, args...))
}

// appendMsgFd appends one entry of a message: an open Fd handle, or every
// descriptor of an FdBatch. The entry is named field[j] (field alone for
// j = 0) in an error, and only then: no string is made per descriptor.
func (rt *Runtime) appendMsgFd(L *lua.LState, fn string, i int, dst []*fdio.FD, v lua.LValue, field string, j int) []*fdio.FD {
	where := func() string {
		if j == 0 {
			return field
		}
		return fmt.Sprintf("%s[%d]", field, j)
	}
	bad := func(errno unix.Errno, format string, args ...any) {
		rt.msgError(L, fn, i, errno, format, args...)
	}
	if ud, ok := v.(*lua.LUserData); ok {
		switch f := ud.Value.(type) {
		case *fdio.FD:
			if f.Closed() {
				bad(unix.EBADF, "%s is a closed handle", where())
			}
			return append(dst, f)
		case *fdBatch:
			fds, _ := batchOf(v)
			for k, f := range fds {
				if f.Closed() {
					bad(unix.EBADF, "%s[%d] (a batch entry) is a closed handle", where(), k+1)
				}
			}
			return append(dst, fds...)
		}
	}
	hint := ""
	if _, num := v.(lua.LNumber); num {
		hint = " (borrow raw numbers with fd.from(n))"
	}
	bad(unix.EINVAL, "%s is a %s, not an Fd handle%s", where(), typeName(v), hint)
	return dst
}

// sock.recvfds_many(s, opts) -> msgs, all: the messages queued now (at
// least one: it waits for the first), each {data, fd, ...}, and all their
// descriptors as one FdBatch.
func (rt *Runtime) sockRecvfdsMany(L *lua.LState) int {
	const fn = "sock.recvfds_many"
	s := rt.checkOpenFd(L, fn, 1, "s")
	opts := rt.Args(L, fn).Opts(2, "opts", "count", "max", "size", "timeout", "batch")
	o := sock.ManyOptions{Count: int(opts.Int("count", RangeMsgCount, sock.ManyWindow))}
	if opts.Has("max") {
		o.MaxFds = int(opts.Int("max", Range{0, sock.MaxFdsPerMessage, "a descriptor count", "SCM_MAX_FD"}, 0))
		o.NoFds = o.MaxFds == 0
	}
	o.MaxData = int(opts.Int("size", RangeSize, 4096))
	if total := int64(o.Count) * int64(o.MaxData); total > MaxRecvSize {
		opts.Error("size", "%d messages of %d bytes need %d bytes of buffer, more than fdwire's largest single receive (%d, 64 MiB): ask for fewer or smaller messages", o.Count, o.MaxData, total, MaxRecvSize)
	}
	batch := opts.Bool("batch", false)
	return rt.park(L, "recvfds_many", s, unix.POLLIN, opts.Timeout(), func() ([]lua.LValue, error) {
		r := sock.GetManyRecv("recvfds_many")
		defer sock.PutManyRecv(r)
		if err := r.Try(s, o); err != nil {
			return nil, err
		}
		list := L.CreateTable(len(r.Msgs), 0)
		var first error
		firstAt := 0
		var c manyConv
		if !batch {
			n := 0
			for i := range r.Msgs {
				n += len(r.Msgs[i].Fds)
			}
			c.fds, c.uds = make([]*fdio.FD, 0, n), make([]any, 0, n)
			c.slab = make([]lua.LUserData, 0, n)
		}
		for i := range r.Msgs {
			mv, err := rt.manyMessage(L, &c, &r.Msgs[i], batch)
			if err != nil && first == nil {
				first, firstAt = err, i+1
			}
			list.Append(mv)
		}
		c.adopt(rt)
		if r.EOF {
			list.RawSetString("eof", lua.LTrue)
		}
		// The second result: every descriptor of the call in one FdBatch
		// (the same handles as in the messages), to pass on or close in
		// one call whatever the number of messages.
		all := r.All
		if first != nil {
			all = make([]*fdio.FD, 0, len(r.All))
			for _, f := range r.All {
				if !f.Closed() {
					all = append(all, f)
				}
			}
		}
		allv := rt.batchOfOwned(L, all)
		if first != nil {
			// Raised as recvfds raises it, with every message this call
			// took from the socket (their descriptors owned, as on success).
			return nil, sys.Fact(sys.Fact(sys.Fact(first, "index", firstAt), "messages", list), "fds", allv)
		}
		return []lua.LValue{list, allv}, nil
	})
}

// manyMessage converts one received message: {data, fd, ...} (or {data,
// batch}), with truncated/pid/uid/gid/pidfd when the kernel said more,
// and error (and no descriptors) when its descriptors did not fit.
func (rt *Runtime) manyMessage(L *lua.LState, c *manyConv, m *sock.Received, batch bool) (*lua.LTable, error) {
	if m.Err != nil {
		t := L.CreateTable(1, 1)
		if d, ok := sysFact(m.Err, "data"); ok {
			t.Append(lua.LString(d))
		}
		t.RawSetString("error", rt.errorValue(L, m.Err))
		return t, m.Err
	}
	t := L.CreateTable(1+len(m.Fds), 0)
	t.Append(c.data(m.Data))
	if batch {
		t.Append(rt.newBatch(L, m.Fds))
	} else {
		for _, f := range m.Fds {
			t.Append(c.handle(L, rt, f))
		}
	}
	if m.Truncated {
		t.RawSetString("truncated", lua.LTrue)
	}
	rt.setSender(L, t, &m.Message)
	return t, nil
}

// manyConv is the state of converting one receive's messages: the last
// data string (a run of messages with the same payload, the common case
// for small control messages, shares one Lua string instead of allocating
// one each) and the handles made, registered with the runtime under one
// lock for the whole call. Their userdata are carved from one slab, as
// their fdio.FDs are (a handle kept long keeps its call's slab, 40 bytes
// a descriptor, allocated: the price of not allocating each one).
type manyConv struct {
	last    lua.LValue // boxed once: a string in an interface is an allocation
	lastStr string
	fds     []*fdio.FD
	uds     []any
	slab    []lua.LUserData
}

func (c *manyConv) data(b []byte) lua.LValue {
	if c.last == nil || len(b) > 64 || string(b) != c.lastStr {
		c.lastStr = string(b)
		c.last = lua.LString(c.lastStr)
	}
	return c.last
}

func (c *manyConv) handle(L *lua.LState, rt *Runtime, f *fdio.FD) *lua.LUserData {
	var ud *lua.LUserData
	if i := len(c.slab); i < cap(c.slab) {
		c.slab = c.slab[:i+1]
		ud = &c.slab[i]
		// What L.NewUserData and L.SetMetatable would set.
		*ud = lua.LUserData{Value: f, Env: L.Env, Metatable: rt.fdMeta}
	} else {
		ud = L.NewUserData()
		ud.Value = f
		L.SetMetatable(ud, rt.fdMeta)
	}
	c.fds = append(c.fds, f)
	c.uds = append(c.uds, ud)
	return ud
}

// adopt records the handles made, as newFd does one by one.
func (c *manyConv) adopt(rt *Runtime) {
	if len(c.fds) > 0 && !rt.closed {
		rt.fds.AdoptAll(c.fds, c.uds)
	}
}

// sysFact is the byte-slice fact key of a sys.Error.
func sysFact(err error, key string) ([]byte, bool) {
	se, ok := err.(*sys.Error)
	if !ok {
		return nil, false
	}
	b, ok := se.Facts[key].([]byte)
	return b, ok
}
