package clidoc

import (
	"fmt"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/luabind/modules"
)

// Source names where a command's spec lives: require(Module)[Field].
type Source struct {
	Name, Summary, Module, Field string
}

// LoadSpecs reads each source's spec table out of one Lua runtime.
func LoadSpecs(srcs []Source) ([]Spec, error) {
	rt, err := luabind.New(luabind.Options{Script: "clidoc", Modules: modules.Default()})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	out := make([]Spec, 0, len(srcs))
	for _, s := range srcs {
		res := rt.RunString(fmt.Sprintf("return require(%q)[%q]", s.Module, s.Field), "=clidoc")
		if res.Err != nil {
			return nil, fmt.Errorf("%s: %s", s.Module, rt.ErrorReport(res.Err))
		}
		if len(res.Values) == 0 {
			return nil, fmt.Errorf("%s has no %s table", s.Module, s.Field)
		}
		t, ok := res.Values[0].(*lua.LTable)
		if !ok {
			return nil, fmt.Errorf("%s.%s is %s, not a spec table", s.Module, s.Field, res.Values[0].Type())
		}
		sp, err := fromLua(t)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", s.Module, s.Field, err)
		}
		sp.Name, sp.Summary = s.Name, s.Summary
		out = append(out, sp)
	}
	return out, nil
}

func str(t *lua.LTable, k string) string {
	switch v := t.RawGetString(k).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	case lua.LBool:
		return strconv.FormatBool(bool(v))
	}
	return ""
}

func strs(v lua.LValue) []string {
	switch v := v.(type) {
	case lua.LString:
		return []string{string(v)}
	case *lua.LTable:
		var out []string
		v.ForEach(func(k, x lua.LValue) {
			if _, ok := k.(lua.LNumber); ok {
				out = append(out, x.String())
			}
		})
		return out
	}
	return nil
}

func fromLua(t *lua.LTable) (Spec, error) {
	sp := Spec{
		Usage:       strings.TrimPrefix(str(t, "usage"), ""),
		About:       str(t, "about"),
		Details:     str(t, "details"),
		Terminators: strs(t.RawGetString("terminators")),
		Command:     str(t, "command") == "required" || str(t, "command") == "optional",
	}
	if p, ok := t.RawGetString("positional").(*lua.LTable); ok {
		sp.Positional = str(p, "names")
	}
	opts, ok := t.RawGetString("options").(*lua.LTable)
	if !ok {
		return sp, fmt.Errorf("no options list")
	}
	for i := 1; i <= opts.Len(); i++ {
		o, ok := opts.RawGetInt(i).(*lua.LTable)
		if !ok {
			return sp, fmt.Errorf("option %d is not a table", i)
		}
		// Named fields (long=, short=) are the spec format; [1], [2] the
		// older positional shorthand.
		short, long := str(o, "short"), str(o, "long")
		if short == "" {
			short = lua.LVAsString(o.RawGetInt(1))
		}
		if long == "" {
			long = lua.LVAsString(o.RawGetInt(2))
		}
		op := Option{
			Short:  short,
			Long:   long,
			Arg:    strs(o.RawGetString("arg")),
			List:   lua.LVAsBool(o.RawGetString("list")),
			Help:   str(o, "help"),
			Values: strs(o.RawGetString("values")),
		}
		if d := o.RawGetString("default"); d != lua.LNil && !lua.LVAsBool(o.RawGetString("hide_default")) {
			op.Default = d.String()
		}
		sp.Options = append(sp.Options, op)
	}
	if ex, ok := t.RawGetString("exits").(*lua.LTable); ok {
		for i := 1; i <= ex.Len(); i++ {
			e, ok := ex.RawGetInt(i).(*lua.LTable)
			if !ok {
				continue
			}
			sp.Exits = append(sp.Exits, Exit{e.RawGetInt(1).String(), e.RawGetInt(2).String()})
		}
	}
	return sp, nil
}
