package luabind

// The one argument and option checker of the Lua surface. Every binding
// reads its arguments through Args and its option tables through Opts, so
// that a value the kernel type cannot hold exactly (uid 2^32, 65534.5, a
// pid or descriptor number out of range, a mode with bits beyond 0o7777),
// a duration that is negative or not a number, and an option key nobody
// reads are all refused the same way: a structured EINVAL naming the
// function, the argument and, for options, the key. Nothing is rounded,
// wrapped or silently ignored on its way to the kernel (docs/guide.md,
// "What fdwire refuses and why").

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// Range is the set of integers a kernel type holds, with the words that
// name it in an error ("a uid or gid").
type Range struct {
	Min, Max int64
	What     string
	// Note, when set, says where the bounds come from.
	Note string
}

func (r Range) bounds() string {
	s := fmt.Sprintf("%s goes from %d to %d", r.What, r.Min, r.Max)
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return s
}

// The kernel types the bindings check against.
var (
	// RangeID is uid_t/gid_t: 2^32-1 is (uid_t)-1, which setresuid and
	// chown read as "leave unchanged", so it is not an id.
	RangeID = Range{0, 1<<32 - 2, "a uid or gid", "4294967295 is (uid_t)-1, which the kernel reads as \"no change\""}
	// RangePid is pid_t as the kernel hands it out (PID_MAX_LIMIT).
	RangePid = Range{1, 1 << 22, "a pid", "PID_MAX_LIMIT"}
	// RangeSignal is 1..SIGRTMAX.
	RangeSignal = Range{1, 64, "a signal number", "SIGRTMAX is 64"}
	// RangeMode is the permission and set-id bits of a file mode.
	RangeMode = Range{0, 0o7777, "a file mode", "permission and set-id bits, at most 0o7777 = 4095; write modes as tonumber(\"644\", 8)"}
	// RangeCount is an int count (backlogs, descriptors per message).
	RangeCount = Range{0, math.MaxInt32, "a count", ""}
	// RangeExact is every integer a Lua number holds exactly.
	RangeExact = Range{-(1 << 53), 1 << 53, "an integer", "integers a Lua number holds exactly"}
)

// MaxRecvSize is the largest buffer one read or receive asks for (64 MiB).
// A request above it is an argument error, never an allocation of that
// size: read in a loop to move more.
const MaxRecvSize = 64 << 20

// RangeSize is a read or receive size: 1..MaxRecvSize.
var RangeSize = Range{1, MaxRecvSize, "a byte count", "fdwire's largest single read, 64 MiB; read in a loop for more"}

// RangeFd is 0 .. the hard RLIMIT_NOFILE - 1: no descriptor number above
// it can exist in this process or be given to a child.
func RangeFd() Range {
	hard := uint64(1 << 20)
	if _, h, err := sys.Getrlimit(unix.RLIMIT_NOFILE); err == nil && h < hard {
		hard = h
	}
	return Range{0, int64(hard) - 1, "a descriptor number", "descriptor numbers go from 0 to the hard RLIMIT_NOFILE - 1"}
}

// MaxDuration is the longest duration the clock holds (time.Duration, about
// 292 years); a longer one, and inf, mean "forever".
const MaxDuration = time.Duration(math.MaxInt64)

// Timeouts as the park functions take them: WaitForever (the zero value,
// what an absent timeout means) and NoWait (timeout = 0: fail with
// ETIMEDOUT at once instead of blocking). Any other value is a deadline.
const (
	WaitForever time.Duration = 0
	NoWait      time.Duration = -1
)

// Args checks the arguments of one call of the Lua function Fn.
type Args struct {
	rt *Runtime
	L  *lua.LState
	Fn string
}

// Args starts checking the arguments of fn ("fd.open", "Fd:read").
func (rt *Runtime) Args(L *lua.LState, fn string) Args { return Args{rt, L, fn} }

// Error raises "Fn: bad argument #n (name): ..." as a structured EINVAL.
func (a Args) Error(n int, name, format string, args ...any) int {
	return a.rt.argError(a.L, a.Fn, n, name, format, args...)
}

// numText prints a number the way Lua does (2^32 as 4294967296, not
// 4.294967296e+09).
func numText(v lua.LNumber) string {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == math.Trunc(f) && math.Abs(f) < 1e21:
		return fmt.Sprintf("%.0f", f)
	}
	return v.String()
}

// IntValue checks that v is an integer in r and returns it, or the reason
// it is not.
func IntValue(v lua.LValue, r Range) (int64, string) {
	num, ok := v.(lua.LNumber)
	if !ok {
		return 0, fmt.Sprintf("expected an integer (%s), got %s", r.What, typeName(v))
	}
	f := float64(num)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Sprintf("expected an integer (%s), got %s", r.What, numText(num))
	}
	if f != math.Trunc(f) {
		return 0, fmt.Sprintf("%s is not an integer, and fdwire does not round: %s", numText(num), r.bounds())
	}
	if f < float64(r.Min) || f > float64(r.Max) {
		return 0, fmt.Sprintf("%s is out of range: %s", numText(num), r.bounds())
	}
	return int64(f), ""
}

// Int reads a required integer argument in r.
func (a Args) Int(n int, name string, r Range) int64 {
	v, why := IntValue(a.L.Get(n), r)
	if why != "" {
		a.Error(n, name, "%s", why)
	}
	return v
}

// OptInt is Int with a default for nil.
func (a Args) OptInt(n int, name string, r Range, def int64) int64 {
	if a.L.Get(n) == lua.LNil {
		return def
	}
	return a.Int(n, name, r)
}

// DurationValue reads seconds: a finite number >= 0, or inf. forever is
// set for inf and for anything longer than MaxDuration.
func DurationValue(v lua.LValue) (d time.Duration, forever bool, why string) {
	num, ok := v.(lua.LNumber)
	if !ok {
		return 0, false, fmt.Sprintf("expected a number of seconds, got %s", typeName(v))
	}
	f := float64(num)
	switch {
	case math.IsNaN(f):
		return 0, false, "nan is not a number of seconds"
	case f < 0:
		return 0, false, fmt.Sprintf("%s is negative (a duration is 0 or more seconds)", numText(num))
	case f*1e9 >= float64(MaxDuration):
		return MaxDuration, true, ""
	}
	d = time.Duration(f * 1e9)
	if d == 0 && f > 0 {
		d = 1 // a positive duration too short for the clock is its shortest tick, not 0
	}
	return d, false, ""
}

// Duration reads a required duration argument (task.sleep's seconds).
func (a Args) Duration(n int, name string) (time.Duration, bool) {
	d, forever, why := DurationValue(a.L.Get(n))
	if why != "" {
		a.Error(n, name, "%s", why)
	}
	return d, forever
}

// TimeoutValue maps a timeout's seconds to what the park functions take:
// nil -> WaitForever, 0 -> NoWait, longer than the clock -> WaitForever.
func TimeoutValue(v lua.LValue) (time.Duration, string) {
	if v == lua.LNil {
		return WaitForever, ""
	}
	d, forever, why := DurationValue(v)
	switch {
	case why != "":
		return 0, why
	case forever:
		return WaitForever, ""
	case d == 0:
		return NoWait, ""
	}
	return d, ""
}

// Opts is an option table after its keys were checked.
type Opts struct {
	a    Args
	n    int
	name string
	T    *lua.LTable // nil when the argument was absent
}

// Opts reads argument n as an option table (nil allowed) whose keys must
// be among keys; an unknown key is an error with a "did you mean".
func (a Args) Opts(n int, name string, keys ...string) Opts {
	o := Opts{a: a, n: n, name: name}
	switch v := a.L.Get(n).(type) {
	case *lua.LNilType:
		return o
	case *lua.LTable:
		o.T = v
	default:
		a.Error(n, name, "expected an option table {%s}, got %s", keyList(keys), typeName(v))
	}
	o.checkKeys(keys)
	return o
}

// OptsOf checks t (which may be nil) as the option table of argument n.
func (a Args) OptsOf(t *lua.LTable, n int, name string, keys ...string) Opts {
	o := Opts{a: a, n: n, name: name, T: t}
	if t != nil {
		o.checkKeys(keys)
	}
	return o
}

func keyList(keys []string) string {
	s := append([]string(nil), keys...)
	sort.Strings(s)
	for i := range s {
		s[i] += "="
	}
	return strings.Join(s, ", ")
}

func (o Opts) checkKeys(keys []string) {
	// Next, not ForEach: a ForEach closure was an allocation in every
	// call that takes an option table (once per message on hot paths).
	for k, _ := o.T.Next(lua.LNil); k != lua.LNil; k, _ = o.T.Next(k) {
		if bad := badKey(k, keys); bad != "" {
			o.a.Error(o.n, o.name, "%s", bad)
			return
		}
	}
}

// badKey says why k is not one of keys ("" when it is).
func badKey(k lua.LValue, keys []string) string {
	s, ok := k.(lua.LString)
	if !ok {
		return fmt.Sprintf("key %s is not an option name (options are %s)", lua.LVAsString(k), keyList(keys))
	}
	for _, known := range keys {
		if string(s) == known {
			return ""
		}
	}
	if len(keys) == 0 {
		return fmt.Sprintf("unknown option %q: this call takes no options", string(s))
	}
	return fmt.Sprintf("unknown option %q%s (options are %s)", string(s), DidYouMean(string(s), keys), keyList(keys))
}

// Error raises an argument error about opts.key.
func (o Opts) Error(key, format string, args ...any) {
	o.a.Error(o.n, o.name, "%s.%s: %s", o.name, key, fmt.Sprintf(format, args...))
}

// Get is the raw value of key (nil when the table is absent).
func (o Opts) Get(key string) lua.LValue {
	if o.T == nil {
		return lua.LNil
	}
	return o.T.RawGetString(key)
}

// Has reports whether key is set.
func (o Opts) Has(key string) bool { return o.Get(key) != lua.LNil }

// Int reads opts.key as an integer in r, def when absent.
func (o Opts) Int(key string, r Range, def int64) int64 {
	v := o.Get(key)
	if v == lua.LNil {
		return def
	}
	n, why := IntValue(v, r)
	if why != "" {
		o.Error(key, "%s", why)
	}
	return n
}

// Timeout reads opts.timeout (seconds; see TimeoutValue).
func (o Opts) Timeout() time.Duration { return o.TimeoutKey("timeout") }

// TimeoutKey reads a timeout under another name.
func (o Opts) TimeoutKey(key string) time.Duration {
	d, why := TimeoutValue(o.Get(key))
	if why != "" {
		o.Error(key, "%s", why)
	}
	return d
}

// Bool reads opts.key as a boolean, def when absent: 1 or "yes" is not a
// boolean, and is refused rather than taken as true.
func (o Opts) Bool(key string, def bool) bool {
	switch v := o.Get(key).(type) {
	case *lua.LNilType:
		return def
	case lua.LBool:
		return bool(v)
	default:
		o.Error(key, "expected a boolean, got %s", typeName(v))
	}
	return def
}

// String reads opts.key as a string, def when absent.
func (o Opts) String(key, def string) string {
	switch v := o.Get(key).(type) {
	case *lua.LNilType:
		return def
	case lua.LString:
		return string(v)
	default:
		o.Error(key, "expected a string, got %s", typeName(v))
	}
	return def
}

// Enum reads opts.key as one of choices, def when absent.
func (o Opts) Enum(key, def string, choices ...string) string {
	s := o.String(key, def)
	for _, c := range choices {
		if s == c {
			return s
		}
	}
	o.Error(key, "%q is not one of %s%s", s, quoteList(choices), DidYouMean(s, choices))
	return def
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// DidYouMean returns ` (did you mean "x"?)` for the known name nearest to
// s, when one is near enough to be a typo.
func DidYouMean(s string, known []string) string {
	best := Suggest(s, known)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Suggest is the entry of known nearest to s, or "" when none is near
// enough: the one rule behind every "did you mean" (Lua: check.suggest).
func Suggest(s string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		return ""
	}
	return best
}

// editDistance is the Damerau (optimal string alignment) distance, so a
// swap such as "tpye" for "type" counts once.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// cliNumber is the grammar of a number on the command line: decimal with
// an optional fraction and exponent. Hex, underscores, spaces and "nan"
// are not numbers there.
var cliNumber = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
})

// ParseNumber reads a command-line number ("10", "1e3", "2.5").
func ParseNumber(s string) (float64, string) {
	if !cliNumber().MatchString(s) {
		return 0, fmt.Sprintf("%q is not a number (digits, an optional fraction and exponent: 10, 2.5, 1e3)", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Sprintf("%q is too large to be a number", s)
	}
	return f, ""
}

// ParseDuration reads command-line seconds: a number >= 0 or "inf";
// forever is set for inf and anything longer than the clock holds.
func ParseDuration(s string) (d time.Duration, forever bool, why string) {
	if l := strings.ToLower(s); l == "inf" || l == "infinity" {
		return MaxDuration, true, ""
	}
	f, why := ParseNumber(s)
	if why != "" {
		return 0, false, why
	}
	return DurationValue(lua.LNumber(f))
}

// rangeNames are the ranges fdwire.check.range and .integer know by name.
func rangeByName(name string) (Range, bool) {
	switch name {
	case "uid", "gid", "id":
		return RangeID, true
	case "pid":
		return RangePid, true
	case "fd":
		return RangeFd(), true
	case "signal":
		return RangeSignal, true
	case "mode":
		return RangeMode, true
	case "count":
		return RangeCount, true
	case "size":
		return RangeSize, true
	case "port":
		return Range{0, 65535, "a port", ""}, true
	}
	return Range{}, false
}

// openCheck preloads "fdwire.check", the same rules for the stdlib's
// command-line tools (docs/guide.md, "What fdwire refuses and why"):
//
//	number(s) -> n | nil, why
//	integer(s, kind_or_min, max) -> n | nil, why   (kind: "uid", "pid", "fd", ...)
//	suggest(word, candidates) -> nearest | nil     (the "did you mean" rule)
//	duration(s) -> seconds (math.huge: forever) | nil, why
//	mode(s) -> octal mode | nil, why
//	range(kind) -> min, max
func (rt *Runtime) openCheck(L *lua.LState) {
	mod := L.NewTable()
	fail := func(L *lua.LState, why string) int {
		L.Push(lua.LNil)
		L.Push(lua.LString(why))
		return 2
	}
	str := func(L *lua.LState, fn string) string {
		switch v := L.Get(1).(type) {
		case lua.LString:
			return string(v)
		case lua.LNumber:
			return v.String()
		}
		rt.argError(L, fn, 1, "s", "expected a string, got %s", typeName(L.Get(1)))
		return ""
	}
	mod.RawSetString("suggest", L.NewFunction(func(L *lua.LState) int {
		word := str(L, "check.suggest")
		list, ok := L.Get(2).(*lua.LTable)
		if !ok {
			return rt.argError(L, "check.suggest", 2, "candidates", "expected a list of strings, got %s", typeName(L.Get(2)))
		}
		var known []string
		for i := 1; i <= list.Len(); i++ {
			if v, ok := list.RawGetInt(i).(lua.LString); ok {
				known = append(known, string(v))
			}
		}
		if best := Suggest(word, known); best != "" {
			L.Push(lua.LString(best))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}))
	mod.RawSetString("number", L.NewFunction(func(L *lua.LState) int {
		f, why := ParseNumber(str(L, "check.number"))
		if why != "" {
			return fail(L, why)
		}
		L.Push(lua.LNumber(f))
		return 1
	}))
	mod.RawSetString("integer", L.NewFunction(func(L *lua.LState) int {
		s := str(L, "check.integer")
		var r Range
		switch v := L.Get(2).(type) {
		case lua.LString:
			var ok bool
			if r, ok = rangeByName(string(v)); !ok {
				return rt.argError(L, "check.integer", 2, "kind", "unknown kind %q%s", string(v), DidYouMean(string(v), []string{"uid", "gid", "pid", "fd", "signal", "mode", "count", "size", "port"}))
			}
		case *lua.LNilType:
			r = RangeExact
		default:
			a := rt.Args(L, "check.integer")
			r = Range{a.Int(2, "min", RangeExact), a.Int(3, "max", RangeExact), "the value", ""}
		}
		f, why := ParseNumber(s)
		if why != "" {
			return fail(L, why)
		}
		n, why := IntValue(lua.LNumber(f), r)
		if why != "" {
			return fail(L, why)
		}
		L.Push(lua.LNumber(n))
		return 1
	}))
	mod.RawSetString("duration", L.NewFunction(func(L *lua.LState) int {
		d, forever, why := ParseDuration(str(L, "check.duration"))
		switch {
		case why != "":
			return fail(L, why)
		case forever:
			L.Push(lua.LNumber(math.Inf(1)))
		default:
			L.Push(lua.LNumber(d.Seconds()))
		}
		return 1
	}))
	mod.RawSetString("mode", L.NewFunction(func(L *lua.LState) int {
		s := str(L, "check.mode")
		m, err := strconv.ParseUint(s, 8, 32)
		if err != nil || m > 0o7777 || strings.HasPrefix(s, "+") {
			return fail(L, fmt.Sprintf("%q is not an octal mode from 0 to 7777 (such as 0600)", s))
		}
		L.Push(lua.LNumber(m))
		return 1
	}))
	mod.RawSetString("range", L.NewFunction(func(L *lua.LState) int {
		k := rt.checkString(L, "check.range", 1, "kind")
		r, ok := rangeByName(k)
		if !ok {
			return rt.argError(L, "check.range", 1, "kind", "unknown kind %q", k)
		}
		L.Push(lua.LNumber(r.Min))
		L.Push(lua.LNumber(r.Max))
		return 2
	}))
	L.PreloadModule("fdwire.check", func(L *lua.LState) int { L.Push(mod); return 1 })
}
