package luabind

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// fdBatch is the descriptors of one receive, as sock.recvfds(s, {batch =
// true}) returns them: owned, close-on-exec and recorded in the runtime's
// registry (so fd.list() shows them and the runtime closes them at exit,
// on error and on cancel) from the moment they arrive, but with no Lua
// handle made for a descriptor until a script touches it. fd.close,
// sock.sendfds and proc.spawn's fds map take the batch whole, so a
// receiver that only passes descriptors on or closes them never pays for
// a handle per descriptor.
type fdBatch struct {
	b   *fdio.Batch
	uds []*lua.LUserData // the handles made so far (nil until the first)
	// A received batch's userdata and Batch live here, so a receive makes
	// one object for them (four before: userdata, fdBatch, Batch, numbers).
	ud  lua.LUserData
	own fdio.Batch
}

// newBatch groups handles that already exist (owned; adopted here).
func (rt *Runtime) newBatch(L *lua.LState, fds []*fdio.FD) *lua.LUserData {
	if !rt.closed {
		rt.fds.AdoptAll(fds, nil)
	}
	return rt.batchOfOwned(L, fds)
}

// newRawBatch owns nums (one receive's descriptor numbers) as one registry
// entry, with no handle made for any of them yet.
// nums is copied: the caller may reuse it.
func (rt *Runtime) newRawBatch(L *lua.LState, nums []int32) *lua.LUserData {
	fb := &fdBatch{}
	fb.b = &fb.own
	rt.fds.AdoptBatchInto(fb.b, nums)
	// What L.NewUserData and L.SetMetatable would set.
	fb.ud = lua.LUserData{Value: fb, Env: L.Env, Metatable: rt.batchMeta}
	return &fb.ud
}

// batchOfOwned makes a batch of fds that the runtime already owns (their
// registry entries, and any handles made for them, stay as they are).
func (rt *Runtime) batchOfOwned(L *lua.LState, fds []*fdio.FD) *lua.LUserData {
	return rt.batchValue(L, fdio.BatchOf(fds))
}

func (rt *Runtime) batchValue(L *lua.LState, b *fdio.Batch) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = &fdBatch{b: b}
	L.SetMetatable(ud, rt.batchMeta)
	return ud
}

// handle returns the Fd handle of b's i-th descriptor (0-based), making it
// on first use; it is the same handle fd.list() shows.
func (rt *Runtime) batchHandle(L *lua.LState, b *fdBatch, i int) *lua.LUserData {
	if b.uds == nil {
		b.uds = make([]*lua.LUserData, b.b.Len())
	}
	if ud := b.uds[i]; ud != nil {
		return ud
	}
	f := b.b.Handle(i)
	if v, ok := rt.fds.Value(f); ok {
		if ud, ok := v.(*lua.LUserData); ok {
			b.uds[i] = ud
			return ud
		}
	}
	ud := L.NewUserData()
	ud.Value = f
	L.SetMetatable(ud, rt.fdMeta)
	rt.fds.SetValue(f, ud)
	b.uds[i] = ud
	return ud
}

func (rt *Runtime) checkBatch(L *lua.LState, fn string) *fdBatch {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if b, ok := ud.Value.(*fdBatch); ok {
			return b
		}
	}
	rt.argError(L, fn, 1, "self", "expected an FdBatch, got %s", typeName(L.Get(1)))
	return nil
}

// batchIndex reads argument 2 as a 1-based position in b.
func (rt *Runtime) batchIndex(L *lua.LState, fn string, b *fdBatch) int {
	i := rt.Args(L, fn).Int(2, "i", Range{1, int64(max(b.b.Len(), 1)), "a position in the batch", fmt.Sprintf("1..%d", b.b.Len())})
	if int(i) > b.b.Len() {
		rt.argError(L, fn, 2, "i", "the batch is empty")
	}
	return int(i) - 1
}

func (rt *Runtime) openBatch(L *lua.LState) {
	methods := map[string]lua.LGFunction{
		// b:len() -> the number of descriptors (also #b)
		"len": func(L *lua.LState) int {
			L.Push(lua.LNumber(rt.checkBatch(L, "FdBatch:len").b.Len()))
			return 1
		},
		// b:get(i) -> the i-th Fd handle (also b[i])
		"get": func(L *lua.LState) int {
			b := rt.checkBatch(L, "FdBatch:get")
			L.Push(rt.batchHandle(L, b, rt.batchIndex(L, "FdBatch:get", b)))
			return 1
		},
		// b:num(i) -> the i-th descriptor's number, without making a handle
		"num": func(L *lua.LState) int {
			b := rt.checkBatch(L, "FdBatch:num")
			n := b.b.Num(rt.batchIndex(L, "FdBatch:num", b))
			if n < 0 {
				return rt.raise(L, &sys.Error{Op: "use", Addr: "closed handle", Err: unix.EBADF, Hint: "the batch entry was closed"})
			}
			L.Push(lua.LNumber(n))
			return 1
		},
		// for i, h in b:iter() do ... end (ipairs does not see __index)
		"iter": func(L *lua.LState) int {
			b := rt.checkBatch(L, "FdBatch:iter")
			L.Push(L.NewFunction(func(L *lua.LState) int {
				i := int(L.CheckNumber(2))
				if i >= b.b.Len() {
					L.Push(lua.LNil)
					return 1
				}
				L.Push(lua.LNumber(i + 1))
				L.Push(rt.batchHandle(L, b, i))
				return 2
			}))
			L.Push(L.Get(1))
			L.Push(lua.LNumber(0))
			return 3
		},
		// b:handles() -> a plain table of every handle
		"handles": func(L *lua.LState) int {
			b := rt.checkBatch(L, "FdBatch:handles")
			t := L.CreateTable(b.b.Len(), 0)
			for i := 0; i < b.b.Len(); i++ {
				t.Append(rt.batchHandle(L, b, i))
			}
			L.Push(t)
			return 1
		},
		// b:close() -> how many: fd.close(b)
		"close": func(L *lua.LState) int {
			b := rt.checkBatch(L, "FdBatch:close")
			if err := b.b.Close(); err != nil {
				return rt.raise(L, err)
			}
			L.Push(lua.LNumber(b.b.Len()))
			return 1
		},
	}
	var mt *lua.LTable
	mt, _ = rt.methods(L, "FdBatch", methods)
	mtab := mt.RawGetString("__index")
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		b := rt.checkBatch(L, "FdBatch")
		switch k := L.Get(2).(type) {
		case lua.LNumber:
			i := int(k)
			if float64(i) != float64(k) || i < 1 || i > b.b.Len() {
				L.Push(lua.LNil)
				return 1
			}
			L.Push(rt.batchHandle(L, b, i-1))
			return 1
		case lua.LString:
			if t, ok := mtab.(*lua.LTable); ok {
				L.Push(t.RawGetString(string(k)))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}))
	mt.RawSetString("__len", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(rt.checkBatch(L, "FdBatch").b.Len()))
		return 1
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		b := rt.checkBatch(L, "FdBatch")
		var nums []string
		for i := 0; i < b.b.Len(); i++ {
			if n := b.b.Num(i); n >= 0 {
				nums = append(nums, fmt.Sprint(n))
			} else {
				nums = append(nums, "closed")
			}
		}
		L.Push(lua.LString(fmt.Sprintf("<fdbatch %d: %s>", b.b.Len(), strings.Join(nums, " "))))
		return 1
	}))
	rt.batchMeta = mt
}

// batchOf returns the descriptors of v when it is an FdBatch, every entry
// as its handle (made now where none was; closed entries as closed
// handles), for the callers that need handles (spawn maps, sends).
func batchOf(v lua.LValue) ([]*fdio.FD, bool) {
	if b, ok := rawBatchOf(v); ok {
		fds := make([]*fdio.FD, b.Len())
		for i := range fds {
			fds[i] = b.Handle(i)
		}
		return fds, true
	}
	return nil, false
}

// rawBatchOf returns the batch of v when it is an FdBatch, making nothing.
func rawBatchOf(v lua.LValue) (*fdio.Batch, bool) {
	if ud, ok := v.(*lua.LUserData); ok {
		if b, ok := ud.Value.(*fdBatch); ok {
			return b.b, true
		}
	}
	return nil, false
}
