package luabind

import (
	"time"

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
	if !f.Borrowed() && !rt.closed {
		rt.fds.Adopt(f, ud)
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
		rt.closedError(L, fn, n, name)
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
		case *Event:
			return "Event"
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

// checkPath is checkString for strings the kernel reads as C strings
// (paths, names): a NUL byte would cut them short, so it is refused.
func (rt *Runtime) checkPath(L *lua.LState, fn string, n int, name string) string {
	s := rt.checkString(L, fn, n, name)
	if i := strings.IndexByte(s, 0); i >= 0 {
		rt.argError(L, fn, n, name, "contains a NUL byte at offset %d (the kernel would read only %q)", i, s[:i])
	}
	return s
}

func (rt *Runtime) checkInt(L *lua.LState, fn string, n int, name string) int {
	return int(rt.Args(L, fn).Int(n, name, RangeExact))
}

// checkBool requires a boolean at argument n: f:cloexec() with no value
// or with 0 is refused instead of read as false.
func (rt *Runtime) checkBool(L *lua.LState, fn string, n int, name string) bool {
	v, ok := L.Get(n).(lua.LBool)
	if !ok {
		rt.argError(L, fn, n, name, "expected true or false, got %s", typeName(L.Get(n)))
	}
	return bool(v)
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
	for k, f := range rt.dirFunctions() { // fd_dir.go
		mod.RawSetString(k, L.NewFunction(f))
	}
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
	path := rt.checkPath(L, "fd.open", 1, "path")
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
	// Checked like fs.mkdir's: a mode is 0 to 0o7777, never wrapped.
	mode := uint32(rt.Args(L, "fd.open").OptInt(3, "mode", RangeMode, 0o666))
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
	if L.Get(1) != lua.LNil {
		name = rt.checkPath(L, "fd.memfd", 1, "name")
		if len(name) > 249 {
			return rt.argError(L, "fd.memfd", 1, "name", "is %d bytes; memfd_create takes at most 249", len(name))
		}
	}
	f, err := fdio.Memfd(name)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, f))
	return 1
}

func (rt *Runtime) fdEventfd(L *lua.LState) int {
	init := rt.Args(L, "fd.eventfd").OptInt(1, "init", Range{0, 1<<32 - 1, "an eventfd counter", "an unsigned int"}, 0)
	f, err := fdio.Eventfd(uint(init))
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, f))
	return 1
}

func (rt *Runtime) fdFrom(L *lua.LState) int {
	if _, isfd := L.Get(1).(*lua.LUserData); isfd {
		return rt.argError(L, "fd.from", 1, "n", "expected a descriptor number, got %s (it already is a handle)", typeName(L.Get(1)))
	}
	n := int(rt.Args(L, "fd.from").Int(1, "n", RangeFd()))
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
	t := L.CreateTable(0, 16+len(in.Tags))
	t.RawSetString("num", lua.LNumber(in.Num))
	t.RawSetString("kind", lua.LString(in.Kind))
	fl := L.CreateTable(len(in.Flags), 0)
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
	tags := L.CreateTable(len(in.Tags), 0)
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
	for _, e := range rt.fds.List() {
		ud, ok := e.Value.(*lua.LUserData)
		if !ok {
			// Adopted in a batch without userdata: make it now, once.
			ud = L.NewUserData()
			ud.Value = e.FD
			L.SetMetatable(ud, rt.fdMeta)
			rt.fds.SetValue(e.FD, ud)
		}
		t.Append(ud)
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
	a := rt.Args(L, fn)
	n := int(a.OptInt(3, "n", Range{1, 1 << 30, "a byte count", ""}, 65536))
	opts := a.Opts(4, "opts", "timeout")
	wait := fdio.SpliceWait{F: from, Events: unix.POLLIN}
	return rt.parkWhere(L, "splice", func() (*fdio.FD, int16) { return wait.F, wait.Events }, opts.Timeout(), func() ([]lua.LValue, error) {
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

// fdCloseMany: fd.close(h, ...), fd.close({h, ...}) or fd.close(batch)
// closes every handle in one call: no Lua method dispatch per handle, and
// each run of consecutive numbers (a received message's descriptors) is
// one close_range(2).
func (rt *Runtime) fdCloseMany(L *lua.LState) int {
	const fn = "fd.close"
	// Every entry is checked before any is closed: a bad entry in the
	// middle must not leave the call half done.
	// fd.close(h) and fd.close(batch), the usual calls, allocate nothing.
	var smallFds [2]*fdio.FD
	var smallBatches [2]*fdio.Batch
	fds, batches := smallFds[:0], smallBatches[:0]
	check := func(v lua.LValue, arg, idx int) {
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
		fds = append(fds, f)
	}
	top := L.GetTop()
	for i := 1; i <= top; i++ {
		switch v := L.Get(i).(type) {
		case *lua.LTable:
			for j, m := 1, v.Len(); j <= m; j++ {
				check(v.RawGetInt(j), i, j)
			}
		default:
			if b, ok := rawBatchOf(v); ok {
				batches = append(batches, b) // closed whole: no handle made
				continue
			}
			check(v, i, 0)
		}
	}
	n := len(fds)
	first := fdio.CloseBatch(fds)
	for _, b := range batches {
		n += b.Len()
		if err := b.Close(); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return rt.raise(L, first)
	}
	L.Push(boxedInt(n))
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
	a := rt.Args(L, "Fd:read")
	if _, ok := L.Get(2).(*lua.LTable); ok {
		return a.Error(2, "n", "expected a byte count, got table (options go third: f:read(n, {timeout = s}), or f:read(nil, {...}))")
	}
	// Bounded (MaxRecvSize) so that a typo such as 2^40 is an error and
	// not an allocation that kills the process.
	size := int(a.OptInt(2, "n", RangeSize, 65536))
	opts := a.Opts(3, "opts", "timeout")
	return rt.park(L, "read", f, unix.POLLIN, opts.Timeout(), func() ([]lua.LValue, error) {
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
	timeout := rt.Args(L, "Fd:write").Opts(3, "opts", "timeout").Timeout() // checked before anything is written
	// Most writes go out at once (a greeting, a relay chunk): try them
	// here, where nothing escapes, and build the waiting machinery below
	// (four closures) only for a write that has to wait. The condition is
	// parkCall's own for trying first.
	done := 0
	if t := rt.sched.current; t != nil && L != rt.L && t.cancelled == nil {
		for done < len(data) {
			n, err := fdio.TryWrite(f, data[done:])
			if err != nil {
				if fdio.IsAgain(err) {
					break
				}
				ev := rt.errorValue(L, err)
				rt.attachTraceback(L, ev)
				w := done
				L.Error(rt.withProgress(L, ev, func(e *lua.LTable) { e.RawSetString("written", lua.LNumber(w)) }), 0)
				return 0
			}
			done += n
		}
		if done == len(data) {
			L.Push(lua.LTrue)
			L.Push(lua.LNumber(done))
			return 2
		}
	}
	return rt.fdWriteWait(L, f, data, timeout, done)
}

// fdWriteWait is Fd:write from byte off on: it waits for room (or blocks
// outside a task) until every byte is written, the timeout passes or the
// task is cancelled; whatever ends it carries written.
func (rt *Runtime) fdWriteWait(L *lua.LState, f *fdio.FD, data []byte, timeout time.Duration, off int) int {
	wait := func() (*fdio.FD, int16) { return f, unix.POLLOUT }
	// Whatever ends a write early (an error, the timeout, a cancel)
	// carries written: the bytes that did go out.
	written := func(e *lua.LTable) { e.RawSetString("written", lua.LNumber(off)) }
	return rt.parkCall(L, "write", wait, timeout, func() ([]lua.LValue, error) {
		for off < len(data) {
			n, err := fdio.TryWrite(f, data[off:])
			if err != nil {
				return nil, err
			}
			off += n
		}
		return []lua.LValue{lua.LNumber(off)}, nil
	}, written)
}

func (rt *Runtime) fdCloexec(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:cloexec", 1, "self")
	if err := f.SetCloexec(rt.checkBool(L, "Fd:cloexec", 2, "on")); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) fdNonblock(L *lua.LState) int {
	f := rt.checkOpenFd(L, "Fd:nonblock", 1, "self")
	if err := f.SetNonblock(rt.checkBool(L, "Fd:nonblock", 2, "on")); err != nil {
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
