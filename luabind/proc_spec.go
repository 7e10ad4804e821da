package luabind

import (
	"errors"
	"fmt"
	"math"
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

// spawnKeyNames lists procSpawnKeys, for "did you mean".
func spawnKeyNames() []string {
	out := make([]string, 0, len(procSpawnKeys))
	for k := range procSpawnKeys {
		out = append(out, k)
	}
	for k := range isolationKeys { // proc_isolate.go
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (rt *Runtime) checkSpawnSpec(L *lua.LState, fn string, forExec bool) proc.Attr {
	spec, ok := L.Get(1).(*lua.LTable)
	if !ok {
		rt.argError(L, fn, 1, "spec", "expected a table {argv..., fds=, env=, cwd=}, got %s", typeName(L.Get(1)))
	}
	bad := func(format string, args ...any) { rt.argError(L, fn, 1, "spec", format, args...) }
	// intField reads spec.key (or a part of it, named by what) as an
	// integer in r: never wrapped, rounded or clamped.
	intField := func(what string, v lua.LValue, r Range) int64 {
		n, why := IntValue(v, r)
		if why != "" {
			bad("%s: %s", what, why)
		}
		return n
	}
	// The option keys the spec holds, seen by the pass over its keys
	// below: an option that is absent (most are) is then known absent
	// without a table lookup. Past len(present) keys, every one is looked
	// up.
	var present [8]string
	np, anyIso := 0, false
	get := func(k string) lua.LValue {
		if np <= len(present) {
			i := 0
			for i < np && present[i] != k {
				i++
			}
			if i == np {
				return lua.LNil
			}
		}
		return spec.RawGetString(k)
	}
	boolField := func(key string) bool {
		switch v := get(key).(type) {
		case *lua.LNilType:
			return false
		case lua.LBool:
			return bool(v)
		default:
			bad("%s: expected true or false, got %s", key, typeName(v))
		}
		return false
	}
	// cstr refuses a NUL byte, which would cut the string short in the
	// kernel (execve, chdir) without a word.
	cstr := func(what, s string) string {
		if i := strings.IndexByte(s, 0); i >= 0 {
			bad("%s contains a NUL byte at offset %d (the kernel would read only %q)", what, i, s[:i])
		}
		return s
	}
	var a proc.Attr
	n := spec.Len()
	for i := 1; i <= n; i++ {
		s, ok := spec.RawGetInt(i).(lua.LString)
		if !ok {
			bad("argv[%d] is a %s, not a string", i, typeName(spec.RawGetInt(i)))
		}
		if strings.IndexByte(string(s), 0) >= 0 {
			cstr(fmt.Sprintf("argv[%d]", i), string(s))
		}
		a.Argv = append(a.Argv, string(s))
	}
	if len(a.Argv) == 0 {
		bad("argv is empty: give the program as spec[1]")
	}
	if a.Argv[0] == "" {
		bad("argv[1] (the program) is an empty string")
	}
	spec.ForEach(func(k, _ lua.LValue) {
		switch k := k.(type) {
		case lua.LString:
			iso := isolationKeys[string(k)]
			if !procSpawnKeys[string(k)] && !iso {
				bad("unknown option %q%s", string(k), DidYouMean(string(k), spawnKeyNames()))
			}
			if np < len(present) {
				present[np] = string(k)
			}
			np++
			anyIso = anyIso || iso
		case lua.LNumber:
			if f := float64(k); f < 1 || f > float64(n) || f != math.Trunc(f) {
				bad("argv has a hole or a non-integer index %s", numText(k))
			}
		default:
			bad("key %s is a %s, not an option name", lua.LVAsString(k), typeName(k))
		}
	})
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
			rt.argErrno(L, unix.EBADF, fn, 1, "spec", "%s is a closed handle", what)
		}
		return f
	}
	if v := get("fds"); v != lua.LNil {
		m, ok := v.(*lua.LTable)
		if !ok {
			bad("fds is a %s, not a table {[n]=handle}", typeName(v))
		}
		a.Fds = map[int]*fdio.FD{}
		fdr := RangeFd()
		// The limit just read bounds the spawn's own check too (one
		// getrlimit per spawn, not two).
		a.FdLimit = uint64(fdr.Max) + 1
		m.ForEach(func(k, v lua.LValue) {
			// The names in errors are formatted only for an error.
			n64, why := IntValue(k, fdr)
			if why != "" {
				bad("fds key %s: %s", lua.LVAsString(k), why)
			}
			kn := int(n64)
			b, isBatch := batchOf(v)
			if !isBatch {
				if _, dup := a.Fds[kn]; dup {
					bad("fds[%d] is given twice (an FdBatch at a lower key covers it)", kn)
				}
				if ud, ok := v.(*lua.LUserData); ok {
					if f, ok := ud.Value.(*fdio.FD); ok && !f.Closed() {
						a.Fds[kn] = f
						return
					}
				}
				a.Fds[kn] = handle(v, fmt.Sprintf("fds[%d]", kn))
				return
			}
			// An FdBatch at key n places its descriptors at n, n+1, ...
			if last := int64(kn) + int64(len(b)) - 1; last > fdr.Max {
				bad("fds[%d] is an FdBatch of %d: its last descriptor would be %d, beyond %d", kn, len(b), last, fdr.Max)
			}
			for j, f := range b {
				if _, dup := a.Fds[kn+j]; dup {
					bad("fds[%d] is given twice (the FdBatch at fds[%d] covers it)", kn+j, kn)
				}
				if f.Closed() {
					rt.argErrno(L, unix.EBADF, fn, 1, "spec", "fds[%d] (entry %d of the FdBatch at fds[%d]) is a closed handle", kn+j, j+1, kn)
				}
				a.Fds[kn+j] = f
			}
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
		if a.Env == nil {
			a.Env = []string{}
		}
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
		if s == "" {
			bad("cwd is an empty string")
		}
		a.Dir = cstr("cwd", string(s))
	}
	if get("uid") != lua.LNil || get("gid") != lua.LNil || get("groups") != lua.LNil {
		rt.checkSpawnCred(L, fn, spec, &a)
	}
	a.Setsid = boolField("setsid")
	switch v := get("pgroup").(type) {
	case *lua.LNilType:
	case lua.LBool:
		a.Setpgid = bool(v)
	case lua.LNumber:
		// 0 is a new group whose id is the child's pid.
		a.Setpgid, a.Pgid = true, int(intField("pgroup", v, Range{0, RangePid.Max, "a process group id", "0 makes a new group"}))
	default:
		bad("pgroup is a %s: give true (a new group) or a group id", typeName(v))
	}
	switch v := get("pdeathsig").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		a.Pdeathsig = unix.Signal(intField("pdeathsig", v, RangeSignal))
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
		// umask(2) keeps only the permission bits: more is a mistake.
		m := int(intField("umask", v, Range{0, 0o777, "a umask", "permission bits only, at most 0o777 = 511"}))
		a.Umask = &m
	case lua.LString:
		m, err := strconv.ParseUint(string(v), 8, 32)
		if err != nil || m > 0o777 {
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
			nm, ok := t.RawGetInt(i).(lua.LString)
			if !ok {
				bad("listen_names[%d] is a %s, not a string", i, typeName(t.RawGetInt(i)))
			}
			a.ListenNames = append(a.ListenNames, string(nm))
		}
	}
	a.Notify = boolField("notify")
	if v := get("notify_fd"); v != lua.LNil {
		r := RangeFd()
		r.Min, r.What = 3, "a descriptor number of 3 or more (below the hard RLIMIT_NOFILE)"
		a.NotifyFd = int(intField("notify_fd", v, r))
		if a.FdLimit == 0 {
			a.FdLimit = uint64(r.Max) + 1
		}
	}
	if forExec && (a.Notify || a.NotifyFd > 0) {
		bad("notify and notify_fd need a parent that waits; exec has none")
	}
	a.Detach = boolField("detach")
	if forExec && a.Detach {
		bad("detach has no meaning for exec")
	}
	if v := get("cgroup"); v != lua.LNil {
		ud, ok := v.(*lua.LUserData)
		var f *fdio.FD
		if ok {
			f, ok = ud.Value.(*fdio.FD)
		}
		if !ok {
			bad("cgroup must be an open directory handle of a cgroup v2 group, got %s", typeName(v))
		}
		if f.Closed() {
			rt.argErrno(L, unix.EBADF, fn, 1, "spec", "cgroup is a closed handle")
		}
		if forExec {
			bad("cgroup has no meaning for exec")
		}
		a.Cgroup = f
	}
	if anyIso {
		a.Isolate = rt.checkIsolation(spec, bad, handle) // proc_isolate.go
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
	id := func(what string, v lua.LValue) uint32 {
		n, why := IntValue(v, RangeID)
		if why != "" {
			bad("%s: %s", what, why)
		}
		return uint32(n)
	}
	switch v := uv.(type) {
	case *lua.LNilType:
	case lua.LNumber:
		c.Uid = id("uid", v)
		gidFromUser = strconv.FormatUint(uint64(c.Uid), 10)
	case lua.LString:
		u, err := user.Lookup(string(v))
		if err != nil {
			bad("uid: no user %q", string(v))
		}
		n, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil || n > uint64(RangeID.Max) {
			bad("uid: user %q has uid %s, which is not a valid id", string(v), u.Uid)
		}
		c.Uid = uint32(n)
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
		c.Gid = id("gid", v)
	case lua.LString:
		g, err := user.LookupGroup(string(v))
		if err != nil {
			bad("gid: no group %q", string(v))
		}
		n, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil || n > uint64(RangeID.Max) {
			bad("gid: group %q has gid %s, which is not a valid id", string(v), g.Gid)
		}
		c.Gid = uint32(n)
	default:
		bad("gid is a %s, not a number or group name", typeName(v))
	}
	if grv != lua.LNil {
		t, ok := grv.(*lua.LTable)
		if !ok {
			bad("groups is a %s, not a list of group ids", typeName(grv))
		}
		c.Groups = []uint32{}
		if t.Len() > 65536 {
			bad("groups has %d entries; the kernel takes at most 65536 (NGROUPS_MAX)", t.Len())
		}
		for i := 1; i <= t.Len(); i++ {
			c.Groups = append(c.Groups, id(fmt.Sprintf("groups[%d]", i), t.RawGetInt(i)))
		}
	}
	a.Cred = c
}

// spawnRlimitValue reads 1024, "unlimited", {cur, max} or {cur=, max=}.
func spawnRlimitValue(v lua.LValue, res int) (uint64, uint64, error) {
	one := func(v lua.LValue) (uint64, error) {
		switch x := v.(type) {
		case lua.LNumber:
			if math.IsInf(float64(x), 1) {
				return unix.RLIM_INFINITY, nil
			}
			n, why := IntValue(x, Range{0, 1 << 53, "a limit", "or \"unlimited\""})
			if why != "" {
				return 0, errors.New(why)
			}
			return uint64(n), nil
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
		if err != nil {
			return
		}
		// Values are strings or numbers (PORT = 8080); a table or a
		// boolean would become "" and is refused.
		sv, ok := val.(lua.LString)
		if n, isNum := val.(lua.LNumber); isNum {
			sv, ok = lua.LString(n.String()), true
		}
		if !ok {
			err = fmt.Errorf("the value of %s is a %s, not a string", lua.LVAsString(k), typeName(val))
			return
		}
		var kv string
		switch k := k.(type) {
		case lua.LNumber:
			kv = string(sv)
			if i := strings.IndexByte(kv, '='); i <= 0 {
				err = fmt.Errorf("entry %q is not KEY=value", kv)
				return
			}
		case lua.LString:
			if k == "" || strings.Contains(string(k), "=") {
				err = fmt.Errorf("key %q: a variable name is not empty and has no '='", string(k))
				return
			}
			kv = string(k) + "=" + string(sv)
		default:
			err = fmt.Errorf("key %s is a %s, not a string", lua.LVAsString(k), typeName(k))
			return
		}
		if i := strings.IndexByte(kv, 0); i >= 0 {
			err = fmt.Errorf("entry %q contains a NUL byte (the kernel would cut it short)", kv[:i])
			return
		}
		env = append(env, kv)
	})
	sort.Strings(env)
	return env, err
}
