package luabind

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/runtime/proc"
)

// The sd_notify side of Proc beyond :ready() (runtime/proc/notify.go
// drains the socket from spawn to reaping): :notices() is what the child
// has said so far, :fdstore() hands over what it stored with FDSTORE=1.

// storedFds are FDSTORE=1 descriptors of a reaped child that nobody took
// yet: at reaping they become runtime handles (closed when the runtime
// ends) so that they outlive the child, as systemd's store does.
type storedFds struct {
	fds   []*lua.LUserData
	names []string
}

// adoptFdstore moves a child's unclaimed stored descriptors into the
// runtime's handles; called when the child is reaped.
func (rt *Runtime) adoptFdstore(p *proc.Proc) {
	fds, names := p.TakeFdstore()
	if len(fds) == 0 {
		return
	}
	if rt.stored == nil {
		rt.stored = map[*proc.Proc]*storedFds{}
	}
	s := rt.stored[p]
	if s == nil {
		s = &storedFds{}
		rt.stored[p] = s
	}
	for i, f := range fds {
		s.fds = append(s.fds, rt.newFd(rt.L, f))
		s.names = append(s.names, names[i])
	}
}

// procFdstore: Proc:fdstore() -> fds, names: the descriptors the child
// sent with FDSTORE=1 that were not handed out yet (by :ready() or an
// earlier :fdstore()), with their FDNAME= (default "stored"). The caller
// owns them. Works after the child has exited.
func (rt *Runtime) procFdstore(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:fdstore")
	fds, names := L.NewTable(), L.NewTable()
	if s := rt.stored[p]; s != nil {
		for i, ud := range s.fds {
			fds.Append(ud)
			names.Append(lua.LString(s.names[i]))
		}
		delete(rt.stored, p)
	}
	live, lnames := p.TakeFdstore()
	for i, f := range live {
		fds.Append(rt.newFd(L, f))
		names.Append(lua.LString(lnames[i]))
	}
	L.Push(fds)
	L.Push(names)
	return 2
}

// procNotices: Proc:notices() -> {ready=, status=, vars=, messages=,
// dropped=, watchdog=, reloading=, stopping=, stored=, log=} or nil when
// the child was started without notify= or notify_fd=.
func (rt *Runtime) procNotices(L *lua.LState) int {
	p := rt.checkProc(L, "Proc:notices")
	n := p.Notices()
	if n == nil {
		L.Push(lua.LNil)
		return 1
	}
	t := L.CreateTable(0, 12)
	t.RawSetString("ready", lua.LBool(n.Ready))
	if n.Via != "" {
		t.RawSetString("via", lua.LString(n.Via))
	}
	if n.Status != "" {
		t.RawSetString("status", lua.LString(n.Status))
	}
	vars := L.CreateTable(0, len(n.Vars))
	for k, v := range n.Vars {
		vars.RawSetString(k, lua.LString(v))
	}
	t.RawSetString("vars", vars)
	t.RawSetString("messages", lua.LNumber(n.Messages))
	t.RawSetString("dropped", lua.LNumber(n.Dropped))
	t.RawSetString("watchdog", lua.LNumber(n.Watchdog))
	t.RawSetString("reloading", lua.LBool(n.Reloading))
	t.RawSetString("stopping", lua.LBool(n.Stopping))
	stored := n.Stored
	if s := rt.stored[p]; s != nil {
		stored += len(s.fds)
	}
	t.RawSetString("stored", lua.LNumber(stored))
	log := L.CreateTable(len(n.Log), 0)
	for _, l := range n.Log {
		log.Append(lua.LString(l))
	}
	t.RawSetString("log", log)
	L.Push(t)
	return 1
}
