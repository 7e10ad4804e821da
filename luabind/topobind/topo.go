// Package topobind is the Go side of the topology engine
// (stdlib/lua/topo.lua): the natives it needs (run directories, cgroups,
// /proc views, orphan reaping; signals come from the signal module) as "fdwire.topo.native", and the
// lazily loaded global topo.
package topobind

import (
	"os"
	"strconv"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/diag"
	"github.com/fdwire/fdwire/runtime/guard"
	"github.com/fdwire/fdwire/runtime/reap"
	"github.com/fdwire/fdwire/runtime/sys"
)

// host gives the bindings the core's exported helpers under the names the
// core uses (rt.Raise, rt.NewFd, ...).
type host struct{ *luabind.Runtime }

// Module opens the topology support: the lazy global topo, require
// "topo", the natives the Lua engine needs ("fdwire.topo.native"), and the
// declared surface of the Lua-implemented engine (topo.*, Topology:*, and
// fdwire.testing's T:*), read from those modules themselves.
func Module() luabind.Module {
	return luabind.Module{Name: "topo", Open: func(rt *luabind.Runtime, L *lua.LState) error {
		host{rt}.openTopo(L)
		rt.LuaSurface("topo.", "fdwire.topo")
		rt.LuaSurface("Topology:", "fdwire.topo", "_Topology")
		rt.LuaSurface("T:", "fdwire.testing", "_T")
		return nil
	}}
}

// openTopo makes the global topo load fdwire.topo on first use (most
// scripts never touch it), makes require "topo" work, and installs the
// internal Go helpers the engine needs as "fdwire.topo.native".
func (rt host) openTopo(L *lua.LState) {
	proxy := L.NewTable()
	load := func(L *lua.LState) *lua.LTable {
		if mt, ok := L.GetMetatable(proxy).(*lua.LTable); ok && mt != nil {
			L.SetMetatable(proxy, lua.LNil)
			if err := L.CallByParam(lua.P{Fn: L.GetGlobal("require"), NRet: 1, Protect: true}, lua.LString("fdwire.topo")); err != nil {
				L.SetMetatable(proxy, mt)
				L.RaiseError("loading topo: %v", err)
			}
			if mod, ok := L.Get(-1).(*lua.LTable); ok {
				mod.ForEach(func(k, v lua.LValue) { proxy.RawSet(k, v) })
			}
			L.Pop(1)
		}
		return proxy
	}
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.Push(load(L).RawGet(L.Get(2)))
		return 1
	}))
	L.SetMetatable(proxy, mt)
	L.SetGlobal("topo", proxy)
	L.PreloadModule("topo", func(L *lua.LState) int { L.Push(load(L)); return 1 })
	L.PreloadModule("fdwire.topo.native", func(L *lua.LState) int {
		m := L.NewTable()
		for k, f := range map[string]lua.LGFunction{
			"now":              rt.topoNow,
			"mkdtemp":          rt.topoMkdtemp,
			"environ":          rt.topoEnviron,
			"memory_budget":    rt.topoMemoryBudget,
			"exe":              rt.topoExe,
			"proc_fds":         rt.topoProcFds,
			"unix_socks":       rt.topoUnixSocks,
			"cgroup_new":       rt.topoCgroupNew,
			"cgroup_kill":      rt.topoCgroupKill,
			"cgroup_pids":      rt.topoCgroupPids,
			"cgroup_populated": rt.topoCgroupPopulated,
			"session_members":  rt.topoSessionMembers,
			"signal_pid":       rt.topoSignalPid,
			"signal_number":    rt.topoSignalNumber,
			"reap_orphan":      rt.topoReapOrphan,
			"subreaper":        rt.topoSubreaper,
			"alive":            rt.topoAlive,
			"kcmp":             rt.topoKcmp,
			"go_program":       rt.topoGoProgram,
			"table":            rt.topoTable,
			"dev_ino":          rt.topoDevIno,
			"watcher":          rt.topoWatcher,
			"watch":            rt.topoWatch,
			"unwatch":          rt.topoUnwatch,
			"collect":          rt.topoCollect,
		} {
			m.RawSetString(k, L.NewFunction(f))
		}
		L.Push(m)
		return 1
	})
}

// pid reads argument 1 of a native as a pid, checked like every pid of
// the Lua surface (L.CheckInt would truncate 2^32 + pid to pid).
func (rt host) pid(L *lua.LState, name string) int {
	return int(rt.Args(L, "fdwire.topo.native."+name).Int(1, "pid", luabind.RangePid))
}

// topoTable(narr, nhash) -> a table sized for narr list entries and
// nhash other keys. gopher-lua gives a table made by {} room for 32 in
// whichever part its first key goes to (an array of 32 values, or a map of
// 32 string keys: 2.8 KB), which the engine's small per-process tables
// never need.
func (rt host) topoTable(L *lua.LState) int {
	a := rt.Args(L, "fdwire.topo.native.table")
	narr := a.Int(1, "narr", luabind.Range{Min: 0, Max: 1 << 16})
	nhash := a.Int(2, "nhash", luabind.Range{Min: 0, Max: 1 << 16})
	L.Push(L.CreateTable(int(narr), int(nhash)))
	return 1
}

// topoDevIno(f) -> dev, ino of the open handle f (one fstat; the
// engine keys its capture pipes by them, and fd.info would make eleven
// syscalls and a table of fields for the two).
func (rt host) topoDevIno(L *lua.LState) int {
	f := rt.CheckOpenFd(L, "fdwire.topo.native.dev_ino", 1, "f")
	n, err := f.Num()
	if err != nil {
		return rt.Raise(L, err)
	}
	var st unix.Stat_t
	if err := sys.Fstat(n, &st); err != nil {
		return rt.Raise(L, err)
	}
	L.Push(lua.LNumber(st.Dev))
	L.Push(lua.LNumber(st.Ino))
	return 2
}

// topoNow: seconds on CLOCK_MONOTONIC, the clock of clock.monotonic.
func (rt host) topoNow(L *lua.LState) int {
	L.Push(lua.LNumber(sys.Monotonic().Seconds()))
	return 1
}

// topoSignalNumber(name) -> number, or nil and an error value for a name that
// is no signal: the topology spec checks its signal names here.
func (rt host) topoSignalNumber(L *lua.LState) int {
	sig, err := sys.SignalByName(L.CheckString(1))
	if err != nil {
		return rt.SoftFail(L, err)
	}
	L.Push(lua.LNumber(sig))
	return 1
}

// topoMkdtemp(prefix) -> path, guard: a fresh 0700 directory under
// $TMPDIR, and an Fd whose closing removes the whole tree (so the
// runtime's own close cleans up a run that was abandoned).
func (rt host) topoMkdtemp(L *lua.LState) int {
	dir, g, err := guard.TempDir(L.OptString(1, "fdwire"), "topo-dir")
	if err != nil {
		return rt.Raise(L, err)
	}
	rt.WardenWatch(g, "dir", dir)
	L.Push(lua.LString(dir))
	L.Push(rt.NewFd(L, g))
	return 2
}

func (rt host) topoEnviron(L *lua.LState) int {
	t := L.NewTable()
	for _, kv := range os.Environ() {
		t.Append(lua.LString(kv))
	}
	L.Push(t)
	return 1
}

func (rt host) topoExe(L *lua.LState) int {
	p, err := os.Executable()
	if err != nil {
		p = "/proc/self/exe"
	}
	L.Push(lua.LString(p))
	return 1
}

// topoProcFds(pid) -> {{num=, link=, dev=, ino=, access=, kind=}...} or
// nil, error value when the process is gone.
func (rt host) topoProcFds(L *lua.LState) int {
	fds, err := diag.ProcFds(rt.pid(L, "proc_fds"))
	if err != nil {
		return rt.SoftFail(L, err)
	}
	t := L.NewTable()
	for _, f := range fds {
		e := L.NewTable()
		e.RawSetString("num", lua.LNumber(f.Num))
		e.RawSetString("link", lua.LString(f.Link))
		e.RawSetString("dev", lua.LNumber(f.Dev))
		e.RawSetString("ino", lua.LNumber(f.Ino))
		e.RawSetString("access", lua.LString(f.Access))
		e.RawSetString("kind", lua.LString(f.Kind))
		t.Append(e)
	}
	L.Push(t)
	return 1
}

// topoUnixSocks({ino...}) -> {["ino"]={peer=, state=, type=, path=, peer_known=}}.
func (rt host) topoUnixSocks(L *lua.LState) int {
	want := L.CheckTable(1)
	socks, err := diag.UnixSockets()
	if err != nil {
		return rt.SoftFail(L, err)
	}
	t := L.NewTable()
	want.ForEach(func(_, v lua.LValue) {
		n, ok := v.(lua.LNumber)
		if !ok {
			return
		}
		s, ok := socks[uint64(n)]
		if !ok {
			return
		}
		e := L.NewTable()
		e.RawSetString("peer", lua.LNumber(s.Peer))
		e.RawSetString("state", lua.LString(s.State))
		e.RawSetString("type", lua.LString(s.Type))
		e.RawSetString("path", lua.LString(s.Path))
		e.RawSetString("peer_known", lua.LBool(s.PeerKnown))
		// Keyed by the inode as a string: a number key this large would
		// make gopher-lua grow the table's array part up to it.
		t.RawSetString(strconv.FormatUint(uint64(n), 10), e)
	})
	L.Push(t)
	return 1
}

// topoCgroupNew(prefix) -> path, guard or nil, error value. Closing the guard
// kills whatever is left in the group and removes it.
func (rt host) topoCgroupNew(L *lua.LState) int {
	path, h, err := guard.Cgroup(L.OptString(1, "fdwire"), "topo-cgroup")
	if err != nil {
		return rt.SoftFail(L, err)
	}
	rt.WardenWatch(h, "cgroup", path)
	L.Push(lua.LString(path))
	L.Push(rt.NewFd(L, h))
	return 2
}

func (rt host) topoCgroupKill(L *lua.LState) int {
	g := &reap.Group{Path: L.CheckString(1)}
	if err := g.Kill(); err != nil {
		return rt.SoftFail(L, err)
	}
	L.Push(lua.LTrue)
	return 1
}

func (rt host) topoCgroupPids(L *lua.LState) int {
	t := L.NewTable()
	for _, p := range (&reap.Group{Path: L.CheckString(1)}).Pids() {
		t.Append(lua.LNumber(p))
	}
	L.Push(t)
	return 1
}

func (rt host) topoCgroupPopulated(L *lua.LState) int {
	L.Push(lua.LBool((&reap.Group{Path: L.CheckString(1)}).Populated()))
	return 1
}

// topoSessionMembers(sid) -> {{pid=, comm=}...}
func (rt host) topoSessionMembers(L *lua.LState) int {
	t := L.NewTable()
	for _, s := range reap.SessionMembers(rt.pid(L, "session_members")) {
		e := L.NewTable()
		e.RawSetString("pid", lua.LNumber(s.Pid))
		e.RawSetString("comm", lua.LString(s.Comm))
		t.Append(e)
	}
	L.Push(t)
	return 1
}

func (rt host) topoSignalPid(L *lua.LState) int {
	sig, err := sys.SignalByName(L.CheckString(2))
	if err != nil {
		return rt.Raise(L, err)
	}
	if err := reap.Signal(rt.pid(L, "signal_pid"), sig); err != nil {
		return rt.Raise(L, err)
	}
	return 0
}

func (rt host) topoReapOrphan(L *lua.LState) int {
	L.Push(lua.LBool(reap.ReapIfOrphan(rt.pid(L, "reap_orphan"))))
	return 1
}

func (rt host) topoSubreaper(L *lua.LState) int {
	if err := reap.SetSubreaper(); err != nil {
		return rt.Raise(L, err)
	}
	return 0
}

// topoAlive(pid) reports whether pid exists and is not a zombie.
func (rt host) topoAlive(L *lua.LState) int {
	st, ok := reap.ReadStat(rt.pid(L, "alive"))
	// A process inside exit(2) has closed its descriptors before it turns
	// zombie: verify must not read that as a wiring problem.
	L.Push(lua.LBool(ok && st.State != "Z" && st.State != "X" && !st.Exiting))
	return 1
}
