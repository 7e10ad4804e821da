package luabind

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// newFd wraps an owned or borrowed handle in an Fd userdata; owned ones
// are closed when the runtime closes.
func (rt *Runtime) newFd(L *lua.LState, f *fdio.FD) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = f
	L.SetMetatable(ud, rt.fdMeta)
	if !f.Borrowed() && rt.handles != nil {
		rt.handles[f] = ud
		f.OnClose(func() { delete(rt.handles, f) })
	}
	return ud
}

// checkFd requires an Fd handle at argument n.
func (rt *Runtime) checkFd(L *lua.LState, fn string, n int, name string) *fdio.FD {
	v := L.Get(n)
	if ud, ok := v.(*lua.LUserData); ok {
		if f, ok := ud.Value.(*fdio.FD); ok {
			return f
		}
	}
	hint := ""
	if _, ok := v.(lua.LNumber); ok {
		hint = " (a raw number is not a handle: borrow it with fd.from(n))"
	}
	rt.argError(L, fn, n, name, "expected an Fd handle, got %s%s", typeName(v), hint)
	return nil
}

// checkOpenFd is checkFd that also refuses a closed handle.
func (rt *Runtime) checkOpenFd(L *lua.LState, fn string, n int, name string) *fdio.FD {
	f := rt.checkFd(L, fn, n, name)
	if f.Closed() {
		rt.argError(L, fn, n, name, "the handle is closed (EBADF)")
	}
	return f
}

func typeName(v lua.LValue) string {
	if ud, ok := v.(*lua.LUserData); ok {
		switch ud.Value.(type) {
		case *fdio.FD:
			return "Fd"
		case *Task:
			return "Task"
		}
		return "userdata"
	}
	return v.Type().String()
}

// optTable returns argument n as a table, or nil when absent.
func (rt *Runtime) optTable(L *lua.LState, fn string, n int, name string) *lua.LTable {
	switch v := L.Get(n).(type) {
	case *lua.LNilType:
		return nil
	case *lua.LTable:
		return v
	default:
		rt.argError(L, fn, n, name, "expected a table, got %s", typeName(v))
	}
	return nil
}

func (rt *Runtime) checkString(L *lua.LState, fn string, n int, name string) string {
	v, ok := L.Get(n).(lua.LString)
	if !ok {
		rt.argError(L, fn, n, name, "expected a string, got %s", typeName(L.Get(n)))
	}
	return string(v)
}

func (rt *Runtime) checkInt(L *lua.LState, fn string, n int, name string) int {
	v, ok := L.Get(n).(lua.LNumber)
	if !ok || float64(v) != float64(int(v)) {
		rt.argError(L, fn, n, name, "expected an integer, got %s", typeName(L.Get(n)))
	}
	return int(v)
}

func (rt *Runtime) openFd(L *lua.LState) {
	rt.fdMeta, _ = rt.methods(L, "Fd", map[string]lua.LGFunction{
		"close":    rt.fdClose,
		"num":      rt.fdNum,
		"read":     rt.fdRead,
		"write":    rt.fdWrite,
		"cloexec":  rt.fdCloexec,
		"nonblock": rt.fdNonblock,
		"info":     rt.fdInfoMethod,
		"closed":   rt.fdClosed,
	}, "read", "write")
	rt.fdMeta.RawSetString("__tostring", L.NewFunction(rt.fdToString))
	mod := rt.register(L, "fd", map[string]lua.LGFunction{
		"pipe":    rt.fdPipe,
		"open":    rt.fdOpen,
		"dup":     rt.fdDup,
		"memfd":   rt.fdMemfd,
		"eventfd": rt.fdEventfd,
		"from":    rt.fdFrom,
		"info":    rt.fdInfo,
		"list":    rt.fdList,
		"close":   rt.fdCloseMany,
		"splice":  rt.fdSplice,
	}, "splice")
	mod.RawSetString("stdin", rt.newFd(L, fdio.Borrow(0)))
	mod.RawSetString("stdout", rt.newFd(L, fdio.Borrow(1)))
	mod.RawSetString("stderr", rt.newFd(L, fdio.Borrow(2)))
}

func (rt *Runtime) fdPipe(L *lua.LState) int {
	r, w, err := fdio.Pipe()
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, r))
	L.Push(rt.newFd(L, w))
	return 2
}

var fopenModes = map[string]int{
	"r": unix.O_RDONLY, "r+": unix.O_RDWR,
	"w": unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, "w+": unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC,
	"a": unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND, "a+": unix.O_RDWR | unix.O_CREAT | unix.O_APPEND,
}

var flagBits = map[string]int{
	"O_RDONLY": unix.O_RDONLY, "O_WRONLY": unix.O_WRONLY, "O_RDWR": unix.O_RDWR, "O_CREAT": unix.O_CREAT,
	"O_EXCL": unix.O_EXCL, "O_TRUNC": unix.O_TRUNC, "O_APPEND": unix.O_APPEND, "O_NONBLOCK": unix.O_NONBLOCK,
	"O_DIRECTORY": unix.O_DIRECTORY, "O_NOFOLLOW": unix.O_NOFOLLOW, "O_PATH": unix.O_PATH, "O_SYNC": unix.O_SYNC,
	"O_NOCTTY": unix.O_NOCTTY, "O_TMPFILE": unix.O_TMPFILE, "O_DIRECT": unix.O_DIRECT, "O_NOATIME": unix.O_NOATIME,
}

// parseOpenFlags takes an fopen mode ("r", "w+", ...) or O_ names joined by
// "|" ("O_WRONLY|O_CREAT").
func parseOpenFlags(s string) (int, error) {
	if v, ok := fopenModes[s]; ok {
		return v, nil
	}
	fl := 0
	for _, part := range strings.Split(s, "|") {
		v, ok := flagBits[strings.TrimSpace(strings.ToUpper(part))]
		if !ok {
			return 0, fmt.Errorf("unknown flag %q (use r, r+, w, w+, a, a+ or O_ names joined by |)", part)
		}
		fl |= v
	}
	return fl, nil
}

func (rt *Runtime) fdOpen(L *lua.LState) int {
	path := rt.checkString(L, "fd.open", 1, "path")
	flags := unix.O_RDONLY
	if v, ok := L.Get(2).(lua.LString); ok {
		fl, err := parseOpenFlags(string(v))
		if err != nil {
			return rt.argError(L, "fd.open", 2, "flags", "%v", err)
		}
		flags = fl
	} else if L.Get(2) != lua.LNil {
		return rt.argError(L, "fd.open", 2, "flags", "expected a string, got %s", typeName(L.Get(2)))
	}
	mode := uint32(0o666)
	if v, ok := L.Get(3).(lua.LNumber); ok {
		mode = uint32(v)
	}
	f, err := fdio.OpenFile(path, flags, mode)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, f))
	return 1
}

func (rt *Runtime) fdDup(L *lua.LState) int {
	f := rt.checkOpenFd(L, "fd.dup", 1, "f")
	d, err := fdio.Dup(f)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, d))
	return 1
}

func (rt *Runtime) fdMemfd(L *lua.LState) int {
	name := "fdwire"
	if v, ok := L.Get(1).(lua.LString); ok {
		name = string(v)
	}
	f, err := fdio.Memfd(name)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, f))
	return 1
}

func (rt *Runtime) fdEventfd(L *lua.LState) int {
	init := 0
	if v, ok := L.Get(1).(lua.LNumber); ok {
		init = int(v)
	}
	f, err := fdio.Eventfd(uint(init))
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, f))
	return 1
}

func (rt *Runtime) fdFrom(L *lua.LState) int {
	v, ok := L.Get(1).(lua.LNumber)
	if !ok {
		if _, isfd := L.Get(1).(*lua.LUserData); isfd {
			return rt.argError(L, "fd.from", 1, "n", "expected a descriptor number, got %s (it already is a handle)", typeName(L.Get(1)))
		}
		return rt.argError(L, "fd.from", 1, "n", "expected a descriptor number, got %s", typeName(L.Get(1)))
	}
	n := int(v)
	if n < 0 || float64(n) != float64(v) {
		return rt.argError(L, "fd.from", 1, "n", "expected a non-negative integer")
	}
	if _, err := sys.GetFdFlags(n); err != nil {
		return rt.raise(L, sys.Wrap("fd.from", sys.FdAddr(n), errors.Unwrap(err)))
	}
	L.Push(rt.newFd(L, fdio.Borrow(n)))
	return 1
}

func (rt *Runtime) fdInfo(L *lua.LState) int {
	f := rt.checkOpenFd(L, "fd.info", 1, "f")
	in, err := f.Info()
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(infoTable(L, in))
	return 1
}

func (rt *Runtime) fdInfoMethod(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:info", 1, "self")
	in, err := f.Info()
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(infoTable(L, in))
	return 1
}

func infoTable(L *lua.LState, in *fdio.Info) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("num", lua.LNumber(in.Num))
	t.RawSetString("kind", lua.LString(in.Kind))
	fl := L.NewTable()
	for _, s := range in.Flags {
		fl.Append(lua.LString(s))
	}
	t.RawSetString("flags", fl)
	t.RawSetString("cloexec", lua.LBool(in.Cloexec))
	t.RawSetString("dev", lua.LNumber(in.Dev))
	t.RawSetString("ino", lua.LNumber(in.Ino))
	t.RawSetString("link", lua.LString(in.Link))
	t.RawSetString("owned", lua.LBool(in.Owned))
	t.RawSetString("path", lua.LBool(in.Path))
	tags := L.NewTable()
	for _, s := range in.Tags {
		tags.Append(lua.LString(s))
		t.RawSetString(s, lua.LTrue)
	}
	t.RawSetString("tags", tags)
	if si := in.Socket; si != nil {
		t.RawSetString("domain", lua.LString(si.Domain))
		t.RawSetString("type", lua.LString(si.Type))
		t.RawSetString("listening", lua.LBool(si.Listening))
		if si.Local != "" {
			t.RawSetString("addr", lua.LString(si.Local))
		}
		if si.Peer != "" {
			t.RawSetString("peer", lua.LString(si.Peer))
		}
	}
	return t
}

func (rt *Runtime) fdList(L *lua.LState) int {
	t := L.NewTable()
	for _, f := range fdio.Open() {
		if ud, ok := rt.handles[f]; ok {
			t.Append(ud)
		}
	}
	L.Push(t)
	return 1
}

func (rt *Runtime) fdClose(L *lua.LState) int {
	f := rt.checkFd(L, "Fd:close", 1, "self")
	if err := f.Close(); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

// fdSplice: fd.splice(from, to, n, opts) -> bytes moved (0 at end of input)
func (rt *Runtime) fdSplice(L *lua.LState) int {
	const fn = "fd.splice"
	from := rt.checkOpenFd(L, fn, 1, "from")
	to := rt.checkOpenFd(L, fn, 2, "to")
	n := 65536
	if v := L.Get(3); v != lua.LNil {
		num, ok := v.(lua.LNumber)
		if !ok || num <= 0 || float64(num) != float64(int(num)) {
			return rt.argError(L, fn, 3, "n", "expected a positive integer, got %s", typeName(v))
		}
		n = int(num)
	}
	opts := rt.optTable(L, fn, 4, "opts")
	wait := fdio.SpliceWait{F: from, Events: unix.POLLIN}
	return rt.parkWhere(L, "splice", func() (*fdio.FD, int16) { return wait.F, wait.Events }, optTimeout(L, opts), func() ([]lua.LValue, error) {
		moved, w, err := fdio.TrySplice(from, to, n)
		if err != nil {
			if w.F != nil {
				wait = w
			}
			return nil, err
		}
		return []lua.LValue{lua.LNumber(moved)}, nil
	})
}

// fdCloseMany: fd.close(h, ...) or fd.close({h, ...}) closes every handle
// in one call: a received batch of 253 descriptors costs 253 close(2)
// calls and no Lua method dispatch per handle.
func (rt *Runtime) fdCloseMany(L *lua.LState) int {
	const fn = "fd.close"
	var firstErr error
	n := 0
	closeOne := func(v lua.LValue, arg, idx int) {
		ud, ok := v.(*lua.LUserData)
		var f *fdio.FD
		if ok {
			f, ok = ud.Value.(*fdio.FD)
		}
		if !ok {
			where := fmt.Sprintf("argument #%d", arg)
			if idx > 0 {
				where += fmt.Sprintf("[%d]", idx)
			}
			rt.argError(L, fn, 1, "handles", "%s is a %s, not an Fd handle", where, typeName(v))
		}
		if err := f.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
		n++
	}
	top := L.GetTop()
	for i := 1; i <= top; i++ {
		switch v := L.Get(i).(type) {
		case *lua.LTable:
			for j, m := 1, v.Len(); j <= m; j++ {
				closeOne(v.RawGetInt(j), i, j)
			}
		default:
			closeOne(v, i, 0)
		}
	}
	if firstErr != nil {
		return rt.raise(L, firstErr)
	}
	L.Push(lua.LNumber(n))
	return 1
}

func (rt *Runtime) fdClosed(L *lua.LState) int {
	f := rt.checkFd(L, "Fd:closed", 1, "self")
	L.Push(lua.LBool(f.Closed()))
	return 1
}

func (rt *Runtime) fdNum(L *lua.LState) int {
	f := rt.checkFd(L, "Fd:num", 1, "self")
	n, err := f.Num()
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(lua.LNumber(n))
	return 1
}

func (rt *Runtime) fdRead(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:read", 1, "self")
	size := 65536
	if v, ok := L.Get(2).(lua.LNumber); ok {
		if v <= 0 {
			return rt.argError(L, "Fd:read", 2, "n", "must be positive")
		}
		size = int(v)
	}
	opts := rt.optTable(L, "Fd:read", 3, "opts")
	return rt.park(L, "read", f, unix.POLLIN, optTimeout(L, opts), func() ([]lua.LValue, error) {
		// A buffer only for the read itself (the result is copied into a
		// Lua string anyway): a read parked on a quiet pipe holds no
		// memory, and a relay does not clear 64 KiB per call.
		bp := getReadBuf(size)
		defer putReadBuf(bp)
		n, err := fdio.TryRead(f, (*bp)[:size])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []lua.LValue{lua.LNil}, nil
		}
		return []lua.LValue{lua.LString((*bp)[:n])}, nil
	})
}

const readBufSize = 65536

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// getReadBuf returns a pooled buffer when n fits one, else a new one.
func getReadBuf(n int) *[]byte {
	if n <= readBufSize {
		return readBufs.Get().(*[]byte)
	}
	b := make([]byte, n)
	return &b
}

func putReadBuf(b *[]byte) {
	if cap(*b) == readBufSize {
		readBufs.Put(b)
	}
}

func (rt *Runtime) fdWrite(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:write", 1, "self")
	// The string's own bytes, not a copy: write only reads them, and the
	// closure below keeps the string alive (the copy was a fifth of a
	// 64 KiB pipe relay's CPU).
	str := rt.checkString(L, "Fd:write", 2, "data")
	data := unsafe.Slice(unsafe.StringData(str), len(str))
	opts := rt.optTable(L, "Fd:write", 3, "opts")
	off := 0
	return rt.park(L, "write", f, unix.POLLOUT, optTimeout(L, opts), func() ([]lua.LValue, error) {
		for off < len(data) {
			n, err := fdio.TryWrite(f, data[off:])
			if err != nil {
				return nil, err
			}
			off += n
		}
		return []lua.LValue{lua.LNumber(off)}, nil
	})
}

func (rt *Runtime) fdCloexec(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:cloexec", 1, "self")
	if err := f.SetCloexec(L.ToBool(2)); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) fdNonblock(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:nonblock", 1, "self")
	if err := f.SetNonblock(L.ToBool(2)); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) fdToString(L *lua.LState) int {
	f := rt.checkFd(L, "Fd:__tostring", 1, "self")
	if f.Closed() {
		L.Push(lua.LString("<fd closed>"))
		return 1
	}
	in, err := f.Info()
	if err != nil {
		L.Push(lua.LString(fmt.Sprintf("<fd %d ?>", f.Raw())))
		return 1
	}
	L.Push(lua.LString(in.String()))
	return 1
}
