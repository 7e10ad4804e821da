package repl

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// maxTableItems bounds how many entries of a table are shown.
const maxTableItems = 40

var identRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// format renders a value for the prompt: strings quoted (so bytes read
// from a descriptor show their \0 and \n), handles and errors through
// their __tostring (`<fd 7 unix/stream listening @x>`, `<proc 1234
// running>`, "connect @x: ECONNREFUSED: connection refused"), tables one
// level deep with sorted keys.
func format(L *lua.LState, v lua.LValue) string {
	return formatDepth(L, v, 0)
}

func formatDepth(L *lua.LState, v lua.LValue, depth int) string {
	switch x := v.(type) {
	case lua.LString:
		return strconv.Quote(string(x))
	case *lua.LFunction:
		if x.IsG {
			return "<function builtin>"
		}
		if x.Proto.SourceName == "<string>" {
			return "<function>" // the runtime's own Lua (glue wrappers)
		}
		return fmt.Sprintf("<function %s:%d>", strings.TrimLeft(x.Proto.SourceName, "@="), x.Proto.LineDefined)
	case *lua.LState:
		return "<coroutine>"
	case *lua.LUserData:
		if s, ok := metaString(L, v); ok {
			return s
		}
		return "<userdata>"
	case *lua.LTable:
		if s, ok := metaString(L, v); ok {
			return s
		}
		if depth > 0 {
			if isEmpty(x) {
				return "{}"
			}
			return "{...}"
		}
		return formatTable(L, x)
	}
	return v.String()
}

// metaString calls __tostring, protected; a failing one shows its error.
func metaString(L *lua.LState, v lua.LValue) (string, bool) {
	mt, ok := L.GetMetatable(v).(*lua.LTable)
	if !ok {
		return "", false
	}
	fn := mt.RawGetString("__tostring")
	if fn == lua.LNil {
		return "", false
	}
	if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, v); err != nil {
		return fmt.Sprintf("<__tostring failed: %v>", err), true
	}
	s := L.Get(-1)
	L.Pop(1)
	return lua.LVAsString(s), true
}

func isEmpty(t *lua.LTable) bool {
	k, _ := t.Next(lua.LNil)
	return k == lua.LNil
}

func formatTable(L *lua.LState, t *lua.LTable) string {
	var items []string
	// The sequence 1..n without holes; t.Len() may count across nils.
	n := 0
	for t.RawGetInt(n+1) != lua.LNil {
		n++
	}
	for i := 1; i <= n && len(items) < maxTableItems; i++ {
		items = append(items, formatDepth(L, t.RawGetInt(i), 1))
	}
	type kv struct {
		sortKey string
		key     lua.LValue
	}
	var rest []kv
	t.ForEach(func(k, _ lua.LValue) {
		if num, ok := k.(lua.LNumber); ok {
			if f := float64(num); f == float64(int(f)) && int(f) >= 1 && int(f) <= n {
				return // already shown as part of the sequence
			}
		}
		sk := lua.LVAsString(k)
		if _, ok := k.(lua.LString); !ok {
			sk = "\x00" + k.Type().String() + formatDepth(L, k, 1) // numbers and others first
		}
		rest = append(rest, kv{sk, k})
	})
	sort.Slice(rest, func(i, j int) bool { return rest[i].sortKey < rest[j].sortKey })
	total := n + len(rest)
	for _, e := range rest {
		if len(items) >= maxTableItems {
			break
		}
		val := formatDepth(L, t.RawGet(e.key), 1)
		if s, ok := e.key.(lua.LString); ok && identRe().MatchString(string(s)) {
			items = append(items, string(s)+" = "+val)
		} else {
			items = append(items, "["+formatDepth(L, e.key, 1)+"] = "+val)
		}
	}
	if total > len(items) {
		items = append(items, fmt.Sprintf("... (%d more)", total-len(items)))
	}
	if len(items) == 0 {
		return "{}"
	}
	return "{" + strings.Join(items, ", ") + "}"
}

// formatValues joins several results with tabs, as print does.
func formatValues(L *lua.LState, vals []lua.LValue) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = format(L, v)
	}
	return strings.Join(parts, "\t")
}
