// Package helpers holds the Lua modules the tools (send, recv,
// portlisten, hold, activate) need beyond fd/sock/proc: fs (private
// socket directories, waiting for a path with inotify), user (dropping
// root after a bind), clock, fd.ready, and the declared surface of the
// Lua-implemented holder module. Each is a luabind.Module, opened
// explicitly by whoever builds the runtime (luabind/modules.Default).
package helpers

import (
	"path/filepath"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/fswait"
	"github.com/fdwire/fdwire/runtime/guard"
	"github.com/fdwire/fdwire/runtime/privdrop"
	"github.com/fdwire/fdwire/runtime/sys"
)

// host gives this package's bindings the core's exported helpers
// (rt.Raise, rt.CheckString, ...) under the names the core uses.
type host struct{ *luabind.Runtime }

// Modules are this package's modules, in the order they must open.
func Modules() []luabind.Module {
	return []luabind.Module{Fs(), User(), Clock(), FdReady(), Signals(), Holder()}
}

// Fs is the fs module.
func Fs() luabind.Module {
	return luabind.Module{Name: "fs", Open: func(rt *luabind.Runtime, L *lua.LState) error { return host{rt}.openFs(L) }}
}

// User is the user module.
func User() luabind.Module {
	return luabind.Module{Name: "user", Open: func(rt *luabind.Runtime, L *lua.LState) error { host{rt}.openUser(L); return nil }}
}

// Clock is the clock module.
func Clock() luabind.Module {
	return luabind.Module{Name: "clock", Open: func(rt *luabind.Runtime, L *lua.LState) error {
		rt.Register(L, "clock", map[string]lua.LGFunction{
			"monotonic": func(L *lua.LState) int {
				L.Push(lua.LNumber(sys.Monotonic().Seconds()))
				return 1
			},
		})
		return nil
	}}
}

// FdReady adds fd.ready to the core fd module.
func FdReady() luabind.Module {
	return luabind.Module{Name: "fd.ready", Open: func(rt *luabind.Runtime, L *lua.LState) error { return host{rt}.openFdReady(L) }}
}

// Holder declares the public functions of require "fdwire.holder"
// (stdlib/lua/holder.lua), read from the module itself.
func Holder() luabind.Module {
	return luabind.Module{Name: "holder", Open: func(rt *luabind.Runtime, L *lua.LState) error {
		rt.LuaSurface("holder.", "fdwire.holder")
		return nil
	}}
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

func (rt host) openFs(L *lua.LState) error {
	mod := rt.Register(L, "fs", map[string]lua.LGFunction{
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
	rt.LazyLua(mod, "wait_path", "fs.wait_path", fsWaitLua)
	return nil
}

var fileTypes = map[uint32]string{
	unix.S_IFSOCK: "socket", unix.S_IFDIR: "dir", unix.S_IFREG: "file", unix.S_IFLNK: "link",
	unix.S_IFIFO: "fifo", unix.S_IFCHR: "char", unix.S_IFBLK: "block",
}

func (rt host) fsStat(L *lua.LState) int {
	path := rt.CheckString(L, "fs.stat", 1, "path")
	var st unix.Stat_t
	if err := sys.Lstat(path, &st); err != nil {
		return rt.Raise(L, err)
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

func (rt host) fsExists(L *lua.LState) int {
	path := rt.CheckString(L, "fs.exists", 1, "path")
	var st unix.Stat_t
	L.Push(lua.LBool(sys.Lstat(path, &st) == nil))
	return 1
}

func (rt host) optMode(L *lua.LState, fn string, n int, def uint32) uint32 {
	return uint32(rt.Args(L, fn).OptInt(n, "mode", luabind.RangeMode, int64(def)))
}

func (rt host) fsMkdir(L *lua.LState) int {
	path := rt.CheckString(L, "fs.mkdir", 1, "path")
	mode := rt.optMode(L, "fs.mkdir", 2, 0o777)
	if err := sys.Mkdir(path, mode); err != nil {
		return rt.Raise(L, err)
	}
	return 0
}

func (rt host) fsChmod(L *lua.LState) int {
	path := rt.CheckString(L, "fs.chmod", 1, "path")
	if L.Get(2) == lua.LNil {
		return rt.ArgError(L, "fs.chmod", 2, "mode", "expected a number, got nil")
	}
	mode := rt.optMode(L, "fs.chmod", 2, 0)
	if err := sys.Chmod(path, mode); err != nil {
		return rt.Raise(L, err)
	}
	return 0
}

func (rt host) fsUnlink(L *lua.LState) int {
	path := rt.CheckString(L, "fs.unlink", 1, "path")
	if err := sys.Unlink(path); err != nil {
		return rt.Raise(L, err)
	}
	return 0
}

func (rt host) fsUmask(L *lua.LState) int {
	// umask(2) keeps the permission bits only: a larger mask is refused,
	// not cut down.
	mask := rt.Args(L, "fs.umask").Int(1, "mask", luabind.Range{Min: 0, Max: 0o777, What: "a umask", Note: "permission bits only, at most 0o777 = 511"})
	L.Push(lua.LNumber(sys.Umask(int(mask))))
	return 1
}

// fsUnlinkOnClose removes path when the handle closes (explicitly, or when
// the runtime ends, also on SIGINT/SIGTERM, and by the warden after a
// SIGKILL), but only while path is still the inode it is now: a later
// socket of the same name is left alone.
func (rt host) fsUnlinkOnClose(L *lua.LState) int {
	f := rt.CheckOpenFd(L, "fs.unlink_on_close", 1, "f")
	path := rt.CheckString(L, "fs.unlink_on_close", 2, "path")
	if err := guard.UnlinkOnClose(f, path); err != nil {
		return rt.Raise(L, err)
	}
	// A SIGKILL of fdwire gives f no chance: the warden removes the file
	// then (only while it is the same inode).
	if abs, err := filepath.Abs(path); err == nil {
		rt.WardenWatch(f, "file", abs)
	}
	return 0
}

func (rt host) fsInotify(L *lua.LState) int {
	w, err := fswait.Open()
	if err != nil {
		return rt.Raise(L, err)
	}
	L.Push(rt.NewFd(L, w))
	return 1
}

func (rt host) fsWaitWatch(L *lua.LState) int {
	w := rt.CheckOpenFd(L, "fs.wait_path", 1, "watch")
	path := rt.CheckString(L, "fs.wait_path", 2, "path")
	timeout := rt.Args(L, "fs.wait_path").Opts(3, "opts", "timeout").Timeout()
	return rt.Park(L, "wait_path "+path, w, unix.POLLIN, timeout, func() ([]lua.LValue, error) {
		if err := fswait.Try(w, path); err != nil {
			return nil, err
		}
		return []lua.LValue{lua.LString(path)}, nil
	})
}

func (rt host) openUser(L *lua.LState) {
	rt.Register(L, "user", map[string]lua.LGFunction{
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

func (rt host) checkUserSpec(L *lua.LState, fn string) *privdrop.Cred {
	switch v := L.Get(1).(type) {
	case lua.LString:
		c, err := privdrop.Lookup(string(v))
		if err != nil {
			rt.Raise(L, err)
		}
		return c
	case lua.LNumber:
		// Checked before the lookup: user.lookup(2^32) must not find uid 0.
		uid := rt.Args(L, fn).Int(1, "user", luabind.RangeID)
		c, err := privdrop.Lookup(strconv.FormatInt(uid, 10))
		if err != nil {
			rt.Raise(L, err)
		}
		return c
	case *lua.LTable:
		o := rt.Args(L, fn).OptsOf(v, 1, "user", "uid", "gid", "name")
		if !o.Has("uid") || !o.Has("gid") {
			rt.ArgError(L, fn, 1, "user", "a table needs numeric uid and gid")
		}
		uid := o.Int("uid", luabind.RangeID, 0)
		gid := o.Int("gid", luabind.RangeID, 0)
		return &privdrop.Cred{Name: o.String("name", ""), Uid: int(uid), Gid: int(gid)}
	}
	rt.ArgError(L, fn, 1, "user", "expected a user name, a uid or a table {uid=, gid=}, got %s", luabind.TypeName(L.Get(1)))
	return nil
}

func (rt host) userLookup(L *lua.LState) int {
	L.Push(credTable(L, rt.checkUserSpec(L, "user.lookup")))
	return 1
}

func (rt host) userDrop(L *lua.LState) int {
	c := rt.checkUserSpec(L, "user.drop")
	if err := privdrop.Drop(c); err != nil {
		return rt.Raise(L, err)
	}
	L.Push(credTable(L, c))
	return 1
}

// openFdReady adds fd.ready to the fd module: a cooperative wait for
// readiness that consumes nothing (activate waits for the first
// connection this way and leaves it to COMMAND).
func (rt host) openFdReady(L *lua.LState) error {
	_, err := rt.Extend(L, "fd", map[string]lua.LGFunction{"ready": rt.fdReady}, "ready")
	return err
}

func (rt host) fdReady(L *lua.LState) int {
	const fn = "fd.ready"
	f := rt.CheckOpenFd(L, fn, 1, "f")
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
			return rt.ArgError(L, fn, 2, "events", "expected \"r\", \"w\" or \"rw\", got %q", string(v))
		}
	default:
		return rt.ArgError(L, fn, 2, "events", "expected \"r\", \"w\" or \"rw\", got %s", luabind.TypeName(v))
	}
	timeout := rt.Args(L, fn).Opts(3, "opts", "timeout").Timeout()
	return rt.Park(L, "ready", f, events, timeout, func() ([]lua.LValue, error) {
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
