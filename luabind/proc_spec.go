package luabind

import (
	"fmt"
	"os/user"
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/proc"
	"github.com/fdwire/fdwire/runtime/sys"
)

// The spawn/exec spec: reading and checking proc.spawn{...} and
// proc.exec{...} tables into a proc.Attr, before anything starts.

// procSpawnKeys are the option names spawn and exec accept; anything else is
// a typo and an error.
var procSpawnKeys = map[string]bool{
	"fds": true, "env": true, "env_add": true, "cwd": true, "uid": true, "gid": true,
	"groups": true, "setsid": true, "pgroup": true, "pdeathsig": true, "umask": true,
	"rlimits": true, "stdin": true, "stdout": true, "stderr": true, "listen": true,
	"listen_names": true, "notify": true, "notify_fd": true, "detach": true, "cgroup": true,
}

func (rt *Runtime) checkSpawnSpec(L *lua.LState, fn string, forExec bool) proc.Attr {
	spec, ok := L.Get(1).(*lua.LTable)
	if !ok {
		rt.argError(L, fn, 1, "spec", "expected a table {argv..., fds=, env=, cwd=}, got %s", typeName(L.Get(1)))
	}
	bad := func(format string, args ...any) { rt.argError(L, fn, 1, "spec", format, args...) }
	var a proc.Attr
	n := spec.Len()
	for i := 1; i <= n; i++ {
		s, ok := spec.RawGetInt(i).(lua.LString)
		if !ok {
			bad("argv[%d] is a %s, not a string", i, typeName(spec.RawGetInt(i)))
		}
		a.Argv = append(a.Argv, string(s))
	}
	if len(a.Argv) == 0 {
		bad("argv is empty: give the program as spec[1]")
	}
	spec.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok && !procSpawnKeys[string(s)] {
			bad("unknown option %q", string(s))
		} else if num, ok := k.(lua.LNumber); ok && (int(num) < 1 || int(num) > n || float64(num) != float64(int(num))) {
			bad("argv has a hole or a non-integer index %s", lua.LVAsString(k))
		}
	})
	get := func(k string) lua.LValue { return spec.RawGetString(k) }
	handle := func(v lua.LValue, what string) *fdio.FD {
		ud, ok := v.(*lua.LUserData)
		var f *fdio.FD
		if ok {
			f, ok = ud.Value.(*fdio.FD)
		}
		if !ok {
			hint := ""
			if _, num := v.(lua.LNumber); num {
				hint = " (borrow raw numbers with fd.from(n))"
			}
			bad("%s is a %s, not an Fd handle%s", what, typeName(v), hint)
		}
		if f.Closed() {
			bad("%s is a closed handle (EBADF)", what)
		}
		return f
	}
	if v := get("fds"); v != lua.LNil {
		m, ok := v.(*lua.LTable)
		if !ok {
			bad("fds is a %s, not a table {[n]=handle}", typeName(v))
		}
		a.Fds = map[int]*fdio.FD{}
		m.ForEach(func(k, v lua.LValue) {
			kn, ok := k.(lua.LNumber)
			if !ok || float64(kn) != float64(int(kn)) || kn < 0 {
				bad("fds key %s is not a descriptor number", lua.LVAsString(k))
			}
			a.Fds[int(kn)] = handle(v, fmt.Sprintf("fds[%d]", int(kn)))
		})
	}
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		switch v := get(name).(type) {
		case *lua.LNilType:
		case lua.LString:
			switch v {
			case "inherit":
				a.Stdio[i] = proc.StdioInherit
			case "null":
				a.Stdio[i] = proc.StdioNull
			case "pipe":
				if forExec {
					bad("%s=\"pipe\" needs a parent to hold the other end; exec has none", name)
				}
				a.Stdio[i] = proc.StdioPipe
			case "close":
				a.Stdio[i] = proc.StdioClose
			default:
				bad("%s=%q: expected a handle, \"inherit\", \"null\", \"pipe\" or \"close\"", name, string(v))
			}
		default:
			if _, dup := a.Fds[i]; dup {
				bad("%s and fds[%d] both given", name, i)
			}
			if a.Fds == nil {
				a.Fds = map[int]*fdio.FD{}
			}
			a.Fds[i] = handle(v, name)
		}
	}
	if v := get("env"); v != lua.LNil {
		env, err := envList(v)
		if err != nil {
			bad("env: %v", err)
		}
		a.Env = env
	}
	if v := get("env_add"); v != lua.LNil {
		env, err := envList(v)
		if err != nil {
			bad("env_add: %v", err)
		}
		a.EnvAdd = env
	}
	if v := get("cwd"); v != lua.LNil {
		s, ok := v.(lua.LString)
		if !ok {
			bad("cwd is a %s, not a string", typeName(v))
		}
		a.Dir = string(s)
	}
	rt.checkSpawnCred(L, fn, spec, &a)
	a.Setsid = lua.LVAsBool(get("setsid"))
	switch v := get("pgroup").(type) {
	case *lua.LNilType:
	case lua.LBool:
		a.Setpgid = bool(v)
	case lua.LNumber:
		a.Setpgid, a.Pgid = true, int(v)
	default:
		bad("pgroup is a %s: give true (a new group) or a group id", typeName(v))
	}
	switch v := get("pdeathsig").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		a.Pdeathsig = unix.Signal(v)
	case lua.LString:
		sig, err := proc.SignalByName(string(v))
		if err != nil {
			bad("pdeathsig: unknown signal %q", string(v))
		}
		a.Pdeathsig = sig
	default:
		bad("pdeathsig is a %s, not a signal name or number", typeName(v))
	}
	switch v := get("umask").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		m := int(v)
		a.Umask = &m
	case lua.LString:
		m, err := strconv.ParseUint(string(v), 8, 32)
		if err != nil || m > 0o7777 {
			bad("umask %q is not an octal mode like \"022\"", string(v))
		}
		mi := int(m)
		a.Umask = &mi
	default:
		bad("umask is a %s: give an octal string like \"027\" or a number", typeName(v))
	}
	if v := get("rlimits"); v != lua.LNil {
		t, ok := v.(*lua.LTable)
		if !ok {
			bad("rlimits is a %s, not a table {nofile=1024, core={0, 0}}", typeName(v))
		}
		t.ForEach(func(k, v lua.LValue) {
			res, ok := sys.RlimitByName(lua.LVAsString(k))
			if !ok {
				bad("rlimits: unknown resource %q (nofile, core, nproc, as, cpu, data, fsize, memlock, stack, ...)", lua.LVAsString(k))
			}
			cur, mx, err := spawnRlimitValue(v, res)
			if err != nil {
				bad("rlimits.%s: %v", lua.LVAsString(k), err)
			}
			a.Rlimits = append(a.Rlimits, proc.Rlimit{Resource: res, Cur: cur, Max: mx})
		})
		sort.Slice(a.Rlimits, func(i, j int) bool { return a.Rlimits[i].Resource < a.Rlimits[j].Resource })
	}
	if v := get("listen"); v != lua.LNil {
		t, ok := v.(*lua.LTable)
		if !ok {
			bad("listen is a %s, not a list of socket handles", typeName(v))
		}
		for i := 1; i <= t.Len(); i++ {
			a.Listen = append(a.Listen, handle(t.RawGetInt(i), fmt.Sprintf("listen[%d]", i)))
		}
		if len(a.Listen) == 0 {
			bad("listen is empty")
		}
	}
	if v := get("listen_names"); v != lua.LNil {
		t, ok := v.(*lua.LTable)
		if !ok {
			bad("listen_names is a %s, not a list of strings", typeName(v))
		}
		for i := 1; i <= t.Len(); i++ {
			a.ListenNames = append(a.ListenNames, lua.LVAsString(t.RawGetInt(i)))
		}
	}
	a.Notify = lua.LVAsBool(get("notify"))
	if v := get("notify_fd"); v != lua.LNil {
		num, ok := v.(lua.LNumber)
		if !ok || int(num) < 3 || float64(num) != float64(int(num)) {
			bad("notify_fd must be a descriptor number of 3 or more, got %s", lua.LVAsString(v))
		}
		a.NotifyFd = int(num)
	}
	if forExec && (a.Notify || a.NotifyFd > 0) {
		bad("notify and notify_fd need a parent that waits; exec has none")
	}
	a.Detach = lua.LVAsBool(get("detach"))
	if forExec && a.Detach {
		bad("detach has no meaning for exec")
	}
	if v := get("cgroup"); v != lua.LNil {
		ud, ok := v.(*lua.LUserData)
		var f *fdio.FD
		if ok {
			f, ok = ud.Value.(*fdio.FD)
		}
		if !ok || f.Closed() {
			bad("cgroup must be an open directory handle of a cgroup v2 group, got %s", typeName(v))
		}
		if forExec {
			bad("cgroup has no meaning for exec")
		}
		a.Cgroup = f
	}
	return a
}

// checkSpawnCred reads uid=, gid= and groups=. A uid given as a name, or
// without gid, takes the user's primary group from the user database.
func (rt *Runtime) checkSpawnCred(L *lua.LState, fn string, spec *lua.LTable, a *proc.Attr) {
	bad := func(format string, args ...any) { rt.argError(L, fn, 1, "spec", format, args...) }
	uv, gv, grv := spec.RawGetString("uid"), spec.RawGetString("gid"), spec.RawGetString("groups")
	if uv == lua.LNil && gv == lua.LNil && grv == lua.LNil {
		return
	}
	c := &proc.Cred{Uid: uint32(unix.Getuid()), Gid: uint32(unix.Getgid())}
	gidFromUser := ""
	switch v := uv.(type) {
	case *lua.LNilType:
	case lua.LNumber:
		c.Uid = uint32(v)
		gidFromUser = strconv.Itoa(int(v))
	case lua.LString:
		u, err := user.Lookup(string(v))
		if err != nil {
			bad("uid: no user %q", string(v))
		}
		id, _ := strconv.Atoi(u.Uid)
		c.Uid = uint32(id)
		gidFromUser = u.Uid
	default:
		bad("uid is a %s, not a number or user name", typeName(v))
	}
	switch v := gv.(type) {
	case *lua.LNilType:
		if gidFromUser != "" {
			c.Gid = c.Uid // no entry in the user database: gid = uid
			if u, err := user.LookupId(gidFromUser); err == nil {
				if g, err := strconv.Atoi(u.Gid); err == nil {
					c.Gid = uint32(g)
				}
			}
		}
	case lua.LNumber:
		c.Gid = uint32(v)
	case lua.LString:
		g, err := user.LookupGroup(string(v))
		if err != nil {
			bad("gid: no group %q", string(v))
		}
		id, _ := strconv.Atoi(g.Gid)
		c.Gid = uint32(id)
	default:
		bad("gid is a %s, not a number or group name", typeName(v))
	}
	if grv != lua.LNil {
		t, ok := grv.(*lua.LTable)
		if !ok {
			bad("groups is a %s, not a list of group ids", typeName(grv))
		}
		c.Groups = []uint32{}
		for i := 1; i <= t.Len(); i++ {
			num, ok := t.RawGetInt(i).(lua.LNumber)
			if !ok {
				bad("groups[%d] is not a number", i)
			}
			c.Groups = append(c.Groups, uint32(num))
		}
	}
	a.Cred = c
}

// spawnRlimitValue reads 1024, "unlimited", {cur, max} or {cur=, max=}.
func spawnRlimitValue(v lua.LValue, res int) (uint64, uint64, error) {
	one := func(v lua.LValue) (uint64, error) {
		switch x := v.(type) {
		case lua.LNumber:
			if x < 0 {
				return 0, fmt.Errorf("negative limit")
			}
			return uint64(x), nil
		case lua.LString:
			if x == "unlimited" || x == "infinity" {
				return unix.RLIM_INFINITY, nil
			}
			return strconv.ParseUint(string(x), 10, 64)
		}
		return 0, fmt.Errorf("expected a number or \"unlimited\", got %s", typeName(v))
	}
	if t, ok := v.(*lua.LTable); ok {
		cv, mv := t.RawGetInt(1), t.RawGetInt(2)
		if cv == lua.LNil {
			cv, mv = t.RawGetString("cur"), t.RawGetString("max")
		}
		cur, err := one(cv)
		if err != nil {
			return 0, 0, err
		}
		mx, err := one(mv)
		if err != nil {
			return 0, 0, err
		}
		if cur > mx {
			return 0, 0, fmt.Errorf("soft limit above the hard limit")
		}
		return cur, mx, nil
	}
	cur, err := one(v)
	if err != nil {
		return 0, 0, err
	}
	// A single value sets the soft limit and keeps the current hard one
	// (unless it is below the new soft limit, when both move).
	_, mx, gerr := sys.Getrlimit(res)
	if gerr != nil || mx < cur {
		mx = cur
	}
	return cur, mx, nil
}

// envList accepts {KEY="value"} or {"KEY=value", ...}.
func envList(v lua.LValue) ([]string, error) {
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("expected a table, got %s", typeName(v))
	}
	env := []string{}
	var err error
	t.ForEach(func(k, val lua.LValue) {
		switch k := k.(type) {
		case lua.LNumber:
			s := lua.LVAsString(val)
			if !strings.Contains(s, "=") {
				err = fmt.Errorf("entry %q has no '='", s)
			}
			env = append(env, s)
		case lua.LString:
			env = append(env, string(k)+"="+lua.LVAsString(val))
		default:
			err = fmt.Errorf("key %s is not a string", lua.LVAsString(k))
		}
	})
	sort.Strings(env)
	return env, err
}
