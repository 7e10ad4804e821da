package luabind

import (
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Directory handles as capabilities: fd.openat and fd.opendir, both
// through openat2(2) so that resolve flags can keep a lookup inside the
// directory (docs/isolation.md).

func (rt *Runtime) dirFunctions() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"openat":  rt.fdOpenat,
		"opendir": rt.fdOpendir,
		"readdir": rt.fdReaddir,
	}
}

// checkResolve reads opts.resolve: a list of names or one string with
// names joined by "|".
func (rt *Runtime) checkResolve(L *lua.LState, fn string, n int, opts *lua.LTable, keys ...string) uint64 {
	if opts == nil {
		return 0
	}
	rt.Args(L, fn).OptsOf(opts, n, "opts", keys...) // unknown keys: "did you mean"
	var names []string
	switch v := opts.RawGetString("resolve").(type) {
	case *lua.LNilType:
		return 0
	case lua.LString:
		names = strings.Split(string(v), "|")
	case *lua.LTable:
		for i := 1; i <= v.Len(); i++ {
			s, ok := v.RawGetInt(i).(lua.LString)
			if !ok {
				rt.argError(L, fn, n, "opts", "resolve[%d] is a %s, not a flag name", i, typeName(v.RawGetInt(i)))
			}
			names = append(names, string(s))
		}
	default:
		rt.argError(L, fn, n, "opts", "resolve must be a list of flag names, got %s", typeName(v))
	}
	var r uint64
	for _, s := range names {
		f, ok := sys.ResolveFlag(strings.TrimSpace(s))
		if !ok {
			rt.argError(L, fn, n, "opts", "unknown resolve flag %q (known: %s)", s, strings.Join(sys.ResolveFlagNames(), ", "))
		}
		r |= f
	}
	return r
}

func (rt *Runtime) checkDirHandle(L *lua.LState, fn string, n int) int {
	f := rt.checkOpenFd(L, fn, n, "dir")
	num, err := f.Num()
	if err != nil {
		rt.closedError(L, fn, n, "dir")
	}
	return num
}

// fd.openat(dir, path, flags, {resolve = {...}, mode = 0644})
func (rt *Runtime) fdOpenat(L *lua.LState) int {
	const fn = "fd.openat"
	dir := rt.checkDirHandle(L, fn, 1)
	path := rt.checkPath(L, fn, 2, "path")
	flags := unix.O_RDONLY
	switch v := L.Get(3).(type) {
	case lua.LString:
		fl, err := parseOpenFlags(string(v))
		if err != nil {
			return rt.argError(L, fn, 3, "flags", "%v", err)
		}
		flags = fl
	case *lua.LNilType:
	default:
		return rt.argError(L, fn, 3, "flags", "expected a string, got %s", typeName(v))
	}
	opts := rt.optTable(L, fn, 4, "opts")
	resolve := rt.checkResolve(L, fn, 4, opts, "resolve", "mode")
	how := unix.OpenHow{Flags: uint64(flags), Resolve: resolve}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		how.Mode = 0o666
	}
	if o := rt.Args(L, fn).OptsOf(opts, 4, "opts", "resolve", "mode"); o.Has("mode") {
		// A mode of the wrong type is refused, not ignored.
		m := o.Int("mode", RangeMode, 0)
		if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
			return rt.argError(L, fn, 4, "opts", "mode applies only with O_CREAT or O_TMPFILE (openat2 refuses it otherwise)")
		}
		how.Mode = uint64(m)
	}
	n, err := sys.Openat2(dir, path, how)
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, fdio.Own(n)))
	return 1
}

// fd.opendir(path) or fd.opendir(dir, path, {resolve = {...}}): a
// directory handle (O_RDONLY|O_DIRECTORY).
func (rt *Runtime) fdOpendir(L *lua.LState) int {
	const fn = "fd.opendir"
	dir, pathArg := unix.AT_FDCWD, 1
	if _, ok := L.Get(1).(*lua.LUserData); ok {
		dir, pathArg = rt.checkDirHandle(L, fn, 1), 2
	}
	path := rt.checkPath(L, fn, pathArg, "path")
	resolve := rt.checkResolve(L, fn, pathArg+1, rt.optTable(L, fn, pathArg+1, "opts"), "resolve")
	n, err := sys.Openat2(dir, path, unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY, Resolve: resolve})
	if err != nil {
		return rt.raise(L, err)
	}
	L.Push(rt.newFd(L, fdio.Own(n)))
	return 1
}

// fd.readdir(dir) -> sorted list of the names in a directory handle
// (without "." and ".."), read through a fresh description of it so the
// handle's own offset is untouched.
func (rt *Runtime) fdReaddir(L *lua.LState) int {
	const fn = "fd.readdir"
	dir := rt.checkDirHandle(L, fn, 1)
	names, err := sys.ReadDirNamesAt(dir)
	if err != nil {
		return rt.raise(L, err)
	}
	sort.Strings(names)
	t := L.CreateTable(len(names), 0)
	for _, n := range names {
		t.Append(lua.LString(n))
	}
	L.Push(t)
	return 1
}
