package luabind

import (
	"fmt"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/ns"
)

// The isolation keys of proc.spawn{...} and proc.exec{...}: namespaces=,
// uid_map=, gid_map=, join=, root=, no_new_privs=, exe= (runtime/ns;
// docs/isolation.md).

var isolationKeys = map[string]bool{
	"namespaces": true, "uid_map": true, "gid_map": true, "join": true,
	"root": true, "no_new_privs": true, "exe": true,
}

// checkIsolation reads the isolation keys of spec; nil when none is set.
func (rt *Runtime) checkIsolation(spec *lua.LTable, bad func(string, ...any), handle func(lua.LValue, string) *fdio.FD) *ns.Spec {
	get := func(k string) lua.LValue { return spec.RawGetString(k) }
	any := false
	for k := range isolationKeys {
		if get(k) != lua.LNil {
			any = true
		}
	}
	if !any {
		return nil
	}
	s := &ns.Spec{}
	switch v := get("namespaces").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		for i := 1; i <= v.Len(); i++ {
			name, ok := v.RawGetInt(i).(lua.LString)
			if !ok {
				bad("namespaces[%d] is a %s, not a name", i, typeName(v.RawGetInt(i)))
			}
			if _, known := ns.Flag(string(name)); !known {
				bad("namespaces[%d]: unknown namespace %q%s (known: %s)", i, string(name), DidYouMean(string(name), ns.Names()), strings.Join(ns.Names(), ", "))
			}
			s.New = append(s.New, string(name))
		}
		v.ForEach(func(k, _ lua.LValue) {
			if n, ok := k.(lua.LNumber); !ok || int(n) < 1 || int(n) > v.Len() {
				bad("namespaces is a list of names, like {\"user\", \"net\"}; key %s does not belong", lua.LVAsString(k))
			}
		})
	default:
		bad("namespaces must be a list of names like {\"user\", \"mount\", \"net\"}, got %s", typeName(v))
	}
	s.UIDMap = readIDMap(get("uid_map"), "uid_map", bad, ns.RootUIDMap)
	s.GIDMap = readIDMap(get("gid_map"), "gid_map", bad, ns.RootGIDMap)
	if v := get("join"); v != lua.LNil {
		t, ok := v.(*lua.LTable)
		if !ok {
			bad("join must be a table {net = nsfd_or_pidfd, ...}, got %s", typeName(v))
		}
		s.Join = map[string]*fdio.FD{}
		t.ForEach(func(k, v lua.LValue) {
			name, ok := k.(lua.LString)
			if !ok {
				bad("join keys are namespace names, got %s", lua.LVAsString(k))
			}
			if _, known := ns.Flag(string(name)); !known {
				bad("join.%s: unknown namespace (known: %s)", string(name), strings.Join(ns.Names(), ", "))
			}
			s.Join[string(name)] = handle(v, "join."+string(name))
		})
	}
	if v := get("root"); v != lua.LNil {
		t, ok := v.(*lua.LTable)
		if !ok {
			bad("root must be a list of entries like {bind = dir, at = \"/data\"}, got %s", typeName(v))
		}
		s.Root = []ns.Entry{}
		for i := 1; i <= t.Len(); i++ {
			s.Root = append(s.Root, readRootEntry(t.RawGetInt(i), i, bad, handle))
		}
		t.ForEach(func(k, _ lua.LValue) {
			if n, ok := k.(lua.LNumber); !ok || int(n) < 1 || int(n) > t.Len() {
				bad("root is a list of entries; key %s does not belong", lua.LVAsString(k))
			}
		})
	}
	switch v := get("no_new_privs").(type) {
	case *lua.LNilType:
	case lua.LBool:
		s.NoNewPrivs = bool(v)
	default:
		bad("no_new_privs must be true or false, got %s", typeName(v))
	}
	if v := get("exe"); v != lua.LNil {
		s.Exe = handle(v, "exe")
	}
	return s
}

func readIDMap(v lua.LValue, what string, bad func(string, ...any), root func() []ns.IDMap) []ns.IDMap {
	switch m := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LString:
		if m == "root" {
			return root()
		}
		bad("%s = %q: expected \"root\" (0 inside is you outside) or a list of {inside, outside, count}", what, string(m))
	case *lua.LTable:
		var out []ns.IDMap
		for i := 1; i <= m.Len(); i++ {
			l, ok := m.RawGetInt(i).(*lua.LTable)
			if !ok || l.Len() != 3 {
				bad("%s[%d] must be {inside, outside, count}", what, i)
			}
			var x [3]uint32
			for j := 0; j < 3; j++ {
				n, ok := l.RawGetInt(j + 1).(lua.LNumber)
				if !ok || n < 0 || n > 4294967295 || float64(n) != float64(int64(n)) {
					bad("%s[%d][%d] must be an id from 0 to 4294967295, got %s", what, i, j+1, lua.LVAsString(l.RawGetInt(j+1)))
				}
				x[j] = uint32(n)
			}
			out = append(out, ns.IDMap{Inside: x[0], Outside: x[1], Count: x[2]})
		}
		if len(out) == 0 {
			bad("%s is empty", what)
		}
		return out
	default:
		bad("%s must be \"root\" or a list of {inside, outside, count}, got %s", what, typeName(v))
	}
	return nil
}

var rootEntryKeys = []string{"bind", "at", "ro", "tmpfs", "proc", "dev"}

func readRootEntry(v lua.LValue, i int, bad func(string, ...any), handle func(lua.LValue, string) *fdio.FD) ns.Entry {
	t, ok := v.(*lua.LTable)
	if !ok {
		bad("root[%d] must be a table like {bind = dir, at = \"/data\"} or {tmpfs = \"/tmp\"}, got %s", i, typeName(v))
	}
	var e ns.Entry
	str := func(k string) string {
		switch x := t.RawGetString(k).(type) {
		case *lua.LNilType:
			return ""
		case lua.LString:
			return string(x)
		default:
			bad("root[%d].%s must be a path string, got %s", i, k, typeName(x))
		}
		return ""
	}
	t.ForEach(func(k, _ lua.LValue) {
		name := lua.LVAsString(k)
		known := false
		for _, x := range rootEntryKeys {
			known = known || x == name
		}
		if !known {
			keys := append([]string(nil), rootEntryKeys...)
			sort.Strings(keys)
			bad("root[%d]: unknown key %q%s (known: %s)", i, name, DidYouMean(name, keys), strings.Join(keys, ", "))
		}
	})
	switch b := t.RawGetString("bind").(type) {
	case *lua.LNilType:
	case lua.LString:
		e.BindPath = string(b)
	default:
		e.Bind = handle(b, fmt.Sprintf("root[%d].bind", i))
	}
	e.At, e.Tmpfs, e.Proc, e.Dev = str("at"), str("tmpfs"), str("proc"), str("dev")
	switch r := t.RawGetString("ro").(type) {
	case *lua.LNilType:
	case lua.LBool:
		e.RO = bool(r)
	default:
		bad("root[%d].ro must be true or false, got %s", i, typeName(r))
	}
	return e
}
