package repl

import (
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// The session's introspection: completion reads globals, lookup and
// fields; :fds and :procs read handles and procs. All run on the Lua
// goroutine.

// globals lists the names of global variables (strings only), sorted;
// functions of lazily loaded modules are included through Functions.
func globals(rt *luabind.Runtime) []string {
	seen := map[string]bool{}
	if g, ok := rt.L.Get(lua.GlobalsIndex).(*lua.LTable); ok {
		g.ForEach(func(k, _ lua.LValue) {
			if s, ok := k.(lua.LString); ok {
				seen[string(s)] = true
			}
		})
	}
	return sortedKeys(seen)
}

// lookup follows a dotted path of names from the globals ("sock",
// "l", "t.sub.x") without calling anything: tables are read raw, and a
// userdata's fields come from its metatable's __index table. It returns
// nil when a step is missing.
func lookup(rt *luabind.Runtime, path []string) lua.LValue {
	var v lua.LValue = rt.L.Get(lua.GlobalsIndex)
	for _, name := range path {
		v = field(rt, v, name)
		if v == lua.LNil {
			return nil
		}
	}
	return v
}

func field(rt *luabind.Runtime, v lua.LValue, name string) lua.LValue {
	for depth := 0; depth < 5; depth++ {
		switch x := v.(type) {
		case *lua.LTable:
			if f := x.RawGetString(name); f != lua.LNil {
				return f
			}
		case *lua.LUserData:
		default:
			return lua.LNil
		}
		mt, ok := rt.L.GetMetatable(v).(*lua.LTable)
		if !ok {
			return lua.LNil
		}
		idx, ok := mt.RawGetString("__index").(*lua.LTable)
		if !ok {
			return lua.LNil
		}
		v = idx
	}
	return lua.LNil
}

// fields lists the string keys reachable on v (raw keys plus those of
// __index tables), with methods only keeping function values. For a
// module still loaded lazily (topo) the registered Function names under
// qualified fill in.
func fields(rt *luabind.Runtime, v lua.LValue, qualified string, methods bool) []string {
	seen := map[string]bool{}
	for depth := 0; depth < 5 && v != nil; depth++ {
		var next lua.LValue
		switch x := v.(type) {
		case *lua.LTable:
			x.ForEach(func(k, val lua.LValue) {
				s, ok := k.(lua.LString)
				if !ok {
					return
				}
				if methods && val.Type() != lua.LTFunction {
					return
				}
				seen[string(s)] = true
			})
		case *lua.LUserData:
		default:
			depth = 5
			continue
		}
		if mt, ok := rt.L.GetMetatable(v).(*lua.LTable); ok {
			if idx, ok := mt.RawGetString("__index").(*lua.LTable); ok {
				next = idx
			}
		}
		v = next
	}
	if qualified != "" && !methods {
		for _, f := range rt.Functions() {
			if rest, ok := strings.CutPrefix(f, qualified+"."); ok && !strings.ContainsAny(rest, ".:") {
				seen[rest] = true
			}
		}
	}
	return sortedKeys(seen)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// HandleInfo describes one descriptor the session owns, for :fds.
type HandleInfo struct {
	Num  int
	Desc string // the Fd's __tostring text
}

// handles lists the descriptors this runtime owns, by number.
func handles(rt *luabind.Runtime) []HandleInfo {
	var out []HandleInfo
	for _, f := range rt.Fds() {
		desc := "?"
		if in, err := f.Info(); err == nil {
			desc = in.String()
		}
		out = append(out, HandleInfo{Num: f.Raw(), Desc: desc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out
}

// ProcInfo describes one child the session started, for :procs.
type ProcInfo struct {
	Pid   int
	State string // "running", "exit 0", "signal SIGTERM"
	Argv  []string
}

// procs lists the children this runtime started (reaping those that
// ended, as Proc:running does), by pid.
func procs(rt *luabind.Runtime) []ProcInfo {
	var out []ProcInfo
	for _, p := range rt.Children() {
		state := "running"
		if running, err := p.Running(); err != nil && !fdio.IsAgain(err) {
			state = "? " + err.Error()
		} else if !running {
			if s := p.Status(); s != nil {
				state = s.String()
			}
		}
		out = append(out, ProcInfo{Pid: p.Pid, State: state, Argv: p.Argv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}
