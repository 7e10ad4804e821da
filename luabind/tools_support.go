package luabind

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/fswait"
	"github.com/fdwire/fdwire/runtime/privdrop"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The fs and user modules: what the tools (send, recv, portlisten, hold)
// need beyond fd/sock/proc, namely private socket directories, waiting for
// a path with inotify, and dropping root after a bind.

func init() {
	openHooks = append(openHooks, func(rt *Runtime, L *lua.LState) {
		rt.openFs(L)
		rt.openUser(L)
		rt.openFdReady(L)
		rt.register(L, "clock", map[string]lua.LGFunction{
			"monotonic": func(L *lua.LState) int {
				L.Push(lua.LNumber(float64(time.Since(clockBase)) / float64(time.Second)))
				return 1
			},
		})
		// Lua-implemented stdlib modules whose functions docs/ must cover.
		rt.Functions = append(rt.Functions, holderFunctions...)
	})
}

// clockBase is the origin of clock.monotonic (Go's clock is monotonic).
var clockBase = time.Now()

// holderFunctions is the public surface of require "fdwire.holder".
var holderFunctions = []string{
	"holder.store", "holder.retrieve", "holder.delete", "holder.list",
	"holder.dump", "holder.restore", "holder.transfer",
}

// fsWaitLua builds fs.wait_path on the raw blocking binding, so the
// inotify descriptor is closed whatever ends the wait (timeout, error,
// cancel).
const fsWaitLua = `
local fs = ...
function fs.wait_path(path, opts)
	if type(path) ~= "string" then
		error("fs.wait_path: bad argument #1 (path): expected a string, got " .. type(path), 2)
	end
	local w = fs._inotify()
	local ok, err = pcall(fs._wait_watch, w, path, opts)
	w:close()
	if not ok then error(err, 0) end
	return path
end
`

func (rt *Runtime) openFs(L *lua.LState) {
	mod := rt.register(L, "fs", map[string]lua.LGFunction{
		"stat":            rt.fsStat,
		"exists":          rt.fsExists,
		"mkdir":           rt.fsMkdir,
		"chmod":           rt.fsChmod,
		"unlink":          rt.fsUnlink,
		"umask":           rt.fsUmask,
		"unlink_on_close": rt.fsUnlinkOnClose,
		"_inotify":        rt.fsInotify,
		"_wait_watch":     rt.fsWaitWatch,
	}, "_wait_watch")
	fn, err := L.LoadString(fsWaitLua)
	if err == nil {
		L.Push(fn)
		L.Push(mod)
		err = L.PCall(1, 0, nil)
	}
	if err != nil {
		panic(err) // the source is a constant: a failure is a bug here
	}
	rt.Functions = append(rt.Functions, "fs.wait_path")
}

var fileTypes = map[uint32]string{
	unix.S_IFSOCK: "socket", unix.S_IFDIR: "dir", unix.S_IFREG: "file", unix.S_IFLNK: "link",
	unix.S_IFIFO: "fifo", unix.S_IFCHR: "char", unix.S_IFBLK: "block",
}

func (rt *Runtime) fsStat(L *lua.LState) int {
	path := rt.checkString(L, "fs.stat", 1, "path")
	var st unix.Stat_t
	if err := sys.Lstat(path, &st); err != nil {
		return rt.raise(L, err)
	}
	t := L.NewTable()
	t.RawSetString("type", lua.LString(fileTypes[st.Mode&unix.S_IFMT]))
	t.RawSetString("mode", lua.LNumber(st.Mode&0o7777))
	t.RawSetString("uid", lua.LNumber(st.Uid))
	t.RawSetString("gid", lua.LNumber(st.Gid))
	t.RawSetString("dev", lua.LNumber(st.Dev))
	t.RawSetString("ino", lua.LNumber(st.Ino))
	t.RawSetString("size", lua.LNumber(st.Size))
	L.Push(t)
	return 1
}

func (rt *Runtime) fsExists(L *lua.LState) int {
	path := rt.checkString(L, "fs.exists", 1, "path")
	var st unix.Stat_t
	L.Push(lua.LBool(sys.Lstat(path, &st) == nil))
	return 1
}

func (rt *Runtime) optMode(L *lua.LState, fn string, n int, def uint32) uint32 {
	switch v := L.Get(n).(type) {
	case *lua.LNilType:
		return def
	case lua.LNumber:
		if v < 0 || v > 0o7777 || float64(v) != float64(int(v)) {
			rt.argError(L, fn, n, "mode", "expected a permission number such as 448 (tonumber(\"700\", 8)), got %v", float64(v))
		}
		return uint32(v)
	}
	rt.argError(L, fn, n, "mode", "expected a number, got %s", typeName(L.Get(n)))
	return 0
}

func (rt *Runtime) fsMkdir(L *lua.LState) int {
	path := rt.checkString(L, "fs.mkdir", 1, "path")
	mode := rt.optMode(L, "fs.mkdir", 2, 0o777)
	if err := sys.Mkdir(path, mode); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) fsChmod(L *lua.LState) int {
	path := rt.checkString(L, "fs.chmod", 1, "path")
	if L.Get(2) == lua.LNil {
		return rt.argError(L, "fs.chmod", 2, "mode", "expected a number, got nil")
	}
	mode := rt.optMode(L, "fs.chmod", 2, 0)
	if err := sys.Chmod(path, mode); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) fsUnlink(L *lua.LState) int {
	path := rt.checkString(L, "fs.unlink", 1, "path")
	if err := sys.Unlink(path); err != nil {
		return rt.raise(L, err)
	}
	return 0
}

func (rt *Runtime) fsUmask(L *lua.LState) int {
	mask := rt.checkInt(L, "fs.umask", 1, "mask")
	L.Push(lua.LNumber(sys.Umask(mask & 0o777)))
	return 1
}

// fsUnlinkOnClose removes path when the handle closes (explicitly, or when
// the runtime ends, also on SIGINT/SIGTERM), but only while path is still
// the inode it is now: a later socket of the same name is left alone.
func (rt *Runtime) fsUnlinkOnClose(L *lua.LState) int {
	f := rt.checkOpenFd(L, "fs.unlink_on_close", 1, "f")
	path := rt.checkString(L, "fs.unlink_on_close", 2, "path")
	abs, err := filepath.Abs(path)
	if err != nil {
		return rt.raise(L, sys.Wrap("unlink_on_close", path, err))
	}
	var st unix.Stat_t
	if err := sys.Lstat(abs, &st); err != nil {
		return rt.raise(L, err)
	}
	dev, ino := st.Dev, st.Ino
	f.OnClose(func() {
		var now unix.Stat_t
		if unix.Lstat(abs, &now) == nil && now.Dev == dev && now.Ino == ino {
			os.Remove(abs)
		}
	})
	return 0
}

func (rt *Runtime) fsInotify(L *lua.LState) int {
	w, err := fswait.Open()
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, w))
	return 1
}

func (rt *Runtime) fsWaitWatch(L *lua.LState) int {
	w := rt.checkOpenFd(L, "fs.wait_path", 1, "watch")
	path := rt.checkString(L, "fs.wait_path", 2, "path")
	opts := rt.optTable(L, "fs.wait_path", 3, "opts")
	return rt.park(L, "wait_path "+path, w, unix.POLLIN, optTimeout(L, opts), func() ([]lua.LValue, error) {
		if err := fswait.Try(w, path); err != nil {
			return nil, err
		}
		return []lua.LValue{lua.LString(path)}, nil
	})
}

func (rt *Runtime) openUser(L *lua.LState) {
	rt.register(L, "user", map[string]lua.LGFunction{
		"lookup": rt.userLookup,
		"drop":   rt.userDrop,
	})
}

func credTable(L *lua.LState, c *privdrop.Cred) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("name", lua.LString(c.Name))
	t.RawSetString("uid", lua.LNumber(c.Uid))
	t.RawSetString("gid", lua.LNumber(c.Gid))
	return t
}

func (rt *Runtime) checkUserSpec(L *lua.LState, fn string) *privdrop.Cred {
	switch v := L.Get(1).(type) {
	case lua.LString:
		c, err := privdrop.Lookup(string(v))
		if err != nil {
			rt.raise(L, err)
		}
		return c
	case lua.LNumber:
		c, err := privdrop.Lookup(v.String())
		if err != nil {
			rt.raise(L, err)
		}
		return c
	case *lua.LTable:
		uid, ok1 := v.RawGetString("uid").(lua.LNumber)
		gid, ok2 := v.RawGetString("gid").(lua.LNumber)
		if !ok1 || !ok2 {
			rt.argError(L, fn, 1, "user", "a table needs numeric uid and gid")
		}
		return &privdrop.Cred{Name: lua.LVAsString(v.RawGetString("name")), Uid: int(uid), Gid: int(gid)}
	}
	rt.argError(L, fn, 1, "user", "expected a user name, a uid or a table {uid=, gid=}, got %s", typeName(L.Get(1)))
	return nil
}

func (rt *Runtime) userLookup(L *lua.LState) int {
	L.Push(credTable(L, rt.checkUserSpec(L, "user.lookup")))
	return 1
}

func (rt *Runtime) userDrop(L *lua.LState) int {
	c := rt.checkUserSpec(L, "user.drop")
	if err := privdrop.Drop(c); err != nil {
		return rt.raise(L, err)
	}
	L.Push(credTable(L, c))
	return 1
}

// openFdReady adds fd.ready to the fd module: a cooperative wait for
// readiness that consumes nothing (activate waits for the first
// connection this way and leaves it to COMMAND).
func (rt *Runtime) openFdReady(L *lua.LState) {
	mod, ok := L.GetGlobal("fd").(*lua.LTable)
	if !ok {
		return
	}
	mod.RawSetString("ready", L.NewFunction(rt.fdReady))
	rt.Functions = append(rt.Functions, "fd.ready")
	rt.blocking = append(rt.blocking, blockingFn{mod, "ready"})
}

func (rt *Runtime) fdReady(L *lua.LState) int {
	const fn = "fd.ready"
	f := rt.checkOpenFd(L, fn, 1, "f")
	var events int16
	switch v := L.Get(2).(type) {
	case *lua.LNilType:
		events = unix.POLLIN
	case lua.LString:
		switch string(v) {
		case "r":
			events = unix.POLLIN
		case "w":
			events = unix.POLLOUT
		case "rw":
			events = unix.POLLIN | unix.POLLOUT
		default:
			return rt.argError(L, fn, 2, "events", "expected \"r\", \"w\" or \"rw\", got %q", string(v))
		}
	default:
		return rt.argError(L, fn, 2, "events", "expected \"r\", \"w\" or \"rw\", got %s", typeName(v))
	}
	opts := rt.optTable(L, fn, 3, "opts")
	return rt.park(L, "ready", f, events, optTimeout(L, opts), func() ([]lua.LValue, error) {
		n, err := f.Num()
		if err != nil {
			return nil, err
		}
		rev, err := fdio.Ready(n, events)
		if err != nil {
			return nil, err
		}
		if rev == 0 {
			return nil, fdio.ErrAgain
		}
		var out []string
		if rev&unix.POLLIN != 0 {
			out = append(out, "r")
		}
		if rev&unix.POLLOUT != 0 {
			out = append(out, "w")
		}
		if rev&(unix.POLLHUP|unix.POLLERR) != 0 {
			out = append(out, "hup")
		}
		if rev&unix.POLLNVAL != 0 {
			return nil, sys.Wrap("ready", sys.FdAddr(n), unix.EBADF)
		}
		return []lua.LValue{lua.LString(strings.Join(out, ","))}, nil
	})
}
