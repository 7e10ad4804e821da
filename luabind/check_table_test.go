package luabind

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// The bad values the table tests feed, as Lua expressions.
var (
	badType  = []string{`"1"`, `{}`, `true`, `print`}
	badNum   = []string{`-1`, `0.5`, `65534.7`, `2^32`, `2^32 + 1`, `2^53`, `1/0`, `-1/0`, `0/0`}
	badInt   = append(append([]string{}, badType...), badNum...)
	badReq   = append([]string{`nil`}, badInt...)
	badDur   = []string{`"1"`, `{}`, `true`, `-1`, `-0.001`, `-1/0`, `0/0`}
	badOpts  = []string{`"x"`, `5`, `true`, `{bogus = 1}`, `{timout = 1}`, `{[1] = 1}`}
	badBool  = []string{`1`, `"true"`, `{}`, `0`}
	badStr   = []string{`{}`, `true`, `print`}
	badStrNL = []string{`nil`, `{}`, `true`, `print`}
)

// argCase is one argument of one function: code is a Lua call with $
// where each bad value goes; every value must raise a structured
// argument error of fn naming arg (and containing want, when set).
type argCase struct {
	fn, code, arg string
	vals          []string
	errno, want   string
}

// runArgTable runs every (case, value) in one runtime. Each call must fail
// with an fdwire error value (the shared metatable), op = fn, the errno,
// argname = arg and "bad argument #" in the message, and leave the
// process's descriptors and children as they were. It returns how many
// bad inputs were tried.
func runArgTable(t *testing.T, setup string, cases []argCase) int {
	t.Helper()
	leakcheck.Check(t)
	var b strings.Builder
	b.WriteString("CASES = {\n")
	n := 0
	for _, c := range cases {
		errno := c.errno
		if errno == "" {
			errno = "EINVAL"
		}
		for _, v := range c.vals {
			code := strings.ReplaceAll(c.code, "$", v)
			fmt.Fprintf(&b, "{fn = %q, arg = %q, errno = %q, want = [==[%s]==], code = [==[%s]==]},\n", c.fn, c.arg, errno, c.want, code)
			n++
		}
	}
	b.WriteString("}\n")
	rt, err := newTestRuntime(Options{Script: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	rt.L.SetGlobal("_fdcount", rt.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(len(fdio.OpenNumbers())))
		return 1
	}))
	rt.L.SetGlobal("_children", rt.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LNumber(countChildren()))
		return 1
	}))
	driver := setup + "\n" + b.String() + `
		local _, ref = pcall(fd.from, -1)
		local META = getmetatable(ref)
		local bad = {}
		for i, c in ipairs(CASES) do
			local f, lerr = loadstring(c.code, "=" .. c.code)
			if not f then bad[#bad + 1] = c.code .. ": does not compile: " .. lerr else
			local fds, kids = _fdcount(), _children()
			local ok, e = pcall(f)
			local why
			if ok then why = "accepted"
			elseif type(e) ~= "table" or getmetatable(e) ~= META then why = "raised a non-structured " .. type(e) .. ": " .. tostring(e)
			elseif e.op ~= c.fn then why = "op is " .. tostring(e.op)
			elseif e.name ~= c.errno then why = "name is " .. tostring(e.name)
			elseif e.argname ~= c.arg then why = "argname is " .. tostring(e.argname)
			elseif not tostring(e):find("bad argument #", 1, true) then why = "message does not say bad argument"
			elseif c.want ~= "" and not tostring(e):find(c.want, 1, true) then why = "message lacks " .. c.want
			elseif _fdcount() ~= fds then why = "descriptors went from " .. fds .. " to " .. _fdcount()
			elseif _children() ~= kids then why = "a child was left"
			end
			if why then bad[#bad + 1] = c.code .. ": " .. why .. (ok and "" or ("\n\t\t(" .. tostring(e) .. ")")) end
			end
		end
		return table.concat(bad, "\n")
	`
	res := rt.RunString(driver, "="+t.Name())
	if res.Err != nil {
		t.Fatalf("driver failed: %s", rt.ErrorReport(res.Err))
	}
	if len(res.Values) > 0 {
		if s := lua.LVAsString(res.Values[0]); s != "" {
			t.Errorf("%d of %d bad inputs were not refused properly:\n%s", strings.Count(s, "\n")+1, n, s)
		}
	}
	t.Logf("%d bad inputs tried", n)
	return n
}

func countChildren() int {
	n := 0
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		n += len(strings.Fields(string(b)))
	}
	return n
}

// badInputsTried sums the table tests' counts (reported by TestZBadInputCount).
var badInputsTried int

const fdSetup = `
	R, W = fd.pipe()
	CL = fd.memfd("closed"); CL:close()
	TMP = os.tmpname()
	ROOT = fd.opendir("/")
`

func TestArgTableFd(t *testing.T) {
	cases := []argCase{
		{fn: "fd.open", code: `fd.open($)`, arg: "path", vals: badStrNL},
		{fn: "fd.open", code: `fd.open("/dev/null\0x")`, arg: "path", vals: []string{""}, want: "NUL"},
		{fn: "fd.open", code: `fd.open("/dev/null", $)`, arg: "flags", vals: append([]string{`"rw"`, `"O_RDONLY|O_BOGUS"`}, badStr...)},
		{fn: "fd.open", code: `fd.open(TMP, "w", $)`, arg: "mode", vals: append(badInt, `4096`, `-420`)},
		{fn: "fd.dup", code: `fd.dup($)`, arg: "f", vals: append([]string{`nil`, `0`, `3`}, badStr...)},
		{fn: "fd.dup", code: `fd.dup(CL)`, arg: "f", vals: []string{""}, errno: "EBADF"},
		{fn: "fd.memfd", code: `fd.memfd($)`, arg: "name", vals: append([]string{`"a\0b"`, `string.rep("x", 250)`}, badStr...)},
		{fn: "fd.eventfd", code: `fd.eventfd($)`, arg: "init", vals: badInt},
		{fn: "fd.from", code: `fd.from($)`, arg: "n", vals: append([]string{`R`}, badReq...)},
		{fn: "fd.info", code: `fd.info($)`, arg: "f", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "fd.info", code: `fd.info(CL)`, arg: "f", vals: []string{""}, errno: "EBADF"},
		{fn: "fd.close", code: `fd.close($)`, arg: "handles", vals: []string{`1`, `"x"`, `{1}`, `{R, "x"}`}},
		{fn: "fd.splice", code: `fd.splice($, W)`, arg: "from", vals: []string{`nil`, `0`, `"x"`}},
		{fn: "fd.splice", code: `fd.splice(R, $)`, arg: "to", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "fd.splice", code: `fd.splice(R, W, $)`, arg: "n", vals: append([]string{`0`, `2^31`}, badInt...)},
		{fn: "fd.splice", code: `fd.splice(R, W, 10, $)`, arg: "opts", vals: badOpts},
		{fn: "fd.splice", code: `fd.splice(R, W, 10, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "fd.ready", code: `fd.ready($)`, arg: "f", vals: []string{`nil`, `0`, `"x"`}},
		{fn: "fd.ready", code: `fd.ready(R, $)`, arg: "events", vals: []string{`"x"`, `1`, `{}`}},
		{fn: "fd.ready", code: `fd.ready(R, "r", $)`, arg: "opts", vals: badOpts},
		{fn: "fd.ready", code: `fd.ready(R, "r", {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "Fd:read", code: `R:read($)`, arg: "n", vals: append([]string{`0`, `2^40`, `1e300`, `64 * 2^20 + 1`}, badInt...)},
		{fn: "Fd:read", code: `R:read({timeout = 1})`, arg: "n", vals: []string{""}, want: "options go third"},
		{fn: "Fd:read", code: `R:read(10, $)`, arg: "opts", vals: badOpts},
		{fn: "Fd:read", code: `R:read(10, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "Fd:read", code: `CL:read(10)`, arg: "self", vals: []string{""}, errno: "EBADF"},
		{fn: "Fd:write", code: `W:write($)`, arg: "data", vals: badStrNL},
		{fn: "Fd:write", code: `W:write("x", $)`, arg: "opts", vals: badOpts},
		{fn: "Fd:write", code: `W:write("x", {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "Fd:write", code: `CL:write("x")`, arg: "self", vals: []string{""}, errno: "EBADF"},
		{fn: "Fd:cloexec", code: `R:cloexec($)`, arg: "on", vals: append([]string{`nil`}, badBool...)},
		{fn: "Fd:nonblock", code: `R:nonblock($)`, arg: "on", vals: append([]string{`nil`}, badBool...)},
		{fn: "Fd:info", code: `CL:info()`, arg: "self", vals: []string{""}, errno: "EBADF"},
		{fn: "fd.openat", code: `fd.openat($, "etc")`, arg: "dir", vals: []string{`nil`, `3`, `"x"`}},
		{fn: "fd.openat", code: `fd.openat(CL, "etc")`, arg: "dir", vals: []string{""}, errno: "EBADF"},
		{fn: "fd.openat", code: `fd.openat(ROOT, $)`, arg: "path", vals: append([]string{`"etc\0x"`}, badStrNL...)},
		{fn: "fd.openat", code: `fd.openat(ROOT, "etc", $)`, arg: "flags", vals: append([]string{`"O_BOGUS"`}, badStr...)},
		{fn: "fd.openat", code: `fd.openat(ROOT, "etc", "r", $)`, arg: "opts", vals: append([]string{`{resolv = {}}`, `{resolve = {"RESOLVE_BOGUS"}}`, `{resolve = 1}`}, badOpts...)},
		{fn: "fd.openat", code: `fd.openat(ROOT, TMP .. "x", "w", {mode = $})`, arg: "opts", vals: append([]string{`4096`}, badInt...), want: "mode"},
		{fn: "fd.opendir", code: `fd.opendir(ROOT, "etc", $)`, arg: "opts", vals: []string{`{mode = 420}`, `{resolv = {}}`, `"x"`}},
		{fn: "fd.readdir", code: `fd.readdir($)`, arg: "dir", vals: []string{`nil`, `3`, `"x"`}},
	}
	badInputsTried += runArgTable(t, fdSetup, cases)
}

const sockSetup = `
	A, B = sock.pair()
	R, W = fd.pipe()
	L = sock.listen_on("@fdwire-strict-" .. math.random(1e9))
	TCP = sock.listen_on("tcp:127.0.0.1:0")
	UDP = sock.socket("inet", "dgram")
	D1, D2 = sock.pair("dgram")
	CL = sock.socket("unix"); CL:close()
	US = sock.socket("unix")
	TC = sock.connect(TCP:info().addr)
	DIR = fd.open("/", "O_PATH|O_DIRECTORY")
`

func TestArgTableSock(t *testing.T) {
	cases := []argCase{
		{fn: "sock.socket", code: `sock.socket($)`, arg: "domain", vals: append([]string{`"ipx"`}, badStrNL...)},
		{fn: "sock.socket", code: `sock.socket("unix", $)`, arg: "type", vals: append([]string{`"raw"`, `"strem"`}, badStr...)},
		{fn: "sock.pair", code: `sock.pair($)`, arg: "type", vals: append([]string{`"x"`}, badStr...)},
		{fn: "sock.bind", code: `sock.bind($, "@x")`, arg: "s", vals: []string{`nil`, `3`, `"x"`}},
		{fn: "sock.bind", code: `sock.bind(CL, "@x")`, arg: "s", vals: []string{""}, errno: "EBADF"},
		{fn: "sock.bind", code: `sock.bind(US, $)`, arg: "addr", vals: []string{`nil`, `1`, `true`, `{}`}},
		{fn: "sock.listen", code: `sock.listen(A, $)`, arg: "backlog", vals: append([]string{`2^31`, `1e9`}, badInt...)},
		{fn: "sock.accept", code: `sock.accept($)`, arg: "s", vals: []string{`nil`, `0`, `"x"`}},
		{fn: "sock.accept", code: `sock.accept(L, $)`, arg: "opts", vals: badOpts},
		{fn: "sock.accept", code: `sock.accept(L, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "sock.connect", code: `sock.connect("@nobody-" .. math.random(1e9), $)`, arg: "opts", vals: []string{`{bogus = 1}`, `{timout = 1}`, `{[1] = 1}`}},
		{fn: "sock.connect", code: `sock.connect("stream", "@nobody", $)`, arg: "opts", vals: badOpts},
		{fn: "sock.connect", code: `sock.connect("@nobody", {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "sock.connect", code: `sock.connect($, "@x")`, arg: "type", vals: []string{`"strem"`}},
		{fn: "sock.listen_on", code: `sock.listen_on("@x", $)`, arg: "opts", vals: append([]string{`{tpye = "dgram"}`, `{backlogg = 1}`}, badOpts...)},
		{fn: "sock.listen_on", code: `sock.listen_on("@x", {type = $})`, arg: "opts", vals: append([]string{`"strem"`, `"raw"`}, badStr...), want: "type"},
		{fn: "sock.listen_on", code: `sock.listen_on("@x", {backlog = $})`, arg: "opts", vals: append([]string{`2^31`}, badInt...), want: "backlog"},
		{fn: "sock.shutdown", code: `sock.shutdown(A, $)`, arg: "how", vals: append([]string{`"both "`, `"x"`}, badStr...)},
		{fn: "sock.sendfds", code: `sock.sendfds($, {R})`, arg: "s", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "sock.sendfds", code: `sock.sendfds(CL, {R})`, arg: "s", vals: []string{""}, errno: "EBADF"},
		{fn: "sock.sendfds", code: `sock.sendfds(A, $)`, arg: "fds", vals: []string{`nil`, `R`, `"x"`, `{0}`, `{R, 1}`}},
		{fn: "sock.sendfds", code: `sock.sendfds(A, {R, CL})`, arg: "fds", vals: []string{""}, errno: "EBADF"},
		{fn: "sock.sendfds", code: `sock.sendfds(A, {R}, $)`, arg: "data", vals: []string{`1`, `true`, `print`}},
		{fn: "sock.sendfds", code: `sock.sendfds(A, {R}, "x", $)`, arg: "opts", vals: badOpts},
		{fn: "sock.sendfds", code: `sock.sendfds(A, {R}, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "sock.sendfds", code: `sock.sendfds($, {R}, "x")`, arg: "s", vals: []string{`UDP`, `TC`}, errno: "ENOTSUP"},
		{fn: "sock.recvfds", code: `sock.recvfds($)`, arg: "s", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "sock.recvfds", code: `sock.recvfds(B, $)`, arg: "opts", vals: append([]string{`{maxx = 1}`, `{sise = 1}`}, badOpts...)},
		{fn: "sock.recvfds", code: `sock.recvfds(B, {size = $})`, arg: "opts", vals: append([]string{`0`, `2^40`}, badInt...), want: "size"},
		{fn: "sock.recvfds", code: `sock.recvfds(B, {max = $})`, arg: "opts", vals: append([]string{`254`}, badInt...), want: "max"},
		{fn: "sock.recvfds", code: `sock.recvfds(B, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "sock.peer", code: `sock.peer($)`, arg: "s", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "sock.parse", code: `sock.parse($)`, arg: "addr", vals: badStrNL},
		{fn: "sock.bind_anon", code: `sock.bind_anon($)`, arg: "opts", vals: append([]string{`{bogus = 1}`, `{backlg = 1}`}, badOpts...)},
		{fn: "sock.bind_anon", code: `sock.bind_anon{type = $}`, arg: "opts", vals: append([]string{`"x"`}, badStr...), want: "type"},
		{fn: "sock.bind_anon", code: `sock.bind_anon{backlog = $}`, arg: "opts", vals: badInt, want: "backlog"},
		{fn: "sock.bind_anon", code: `sock.bind_anon{publishable = $}`, arg: "opts", vals: badBool, want: "publishable"},
		{fn: "sock.bind_anon", code: `sock.bind_anon{dir = $}`, arg: "opts", vals: badStr, want: "dir"},
		{fn: "sock.publish", code: `sock.publish($, "/tmp/x")`, arg: "address", vals: []string{`nil`, `1`, `A`}},
		{fn: "sock.publish", code: `sock.publish(A, $)`, arg: "path", vals: badStrNL},
		{fn: "sock.sendto", code: `sock.sendto(D1, "@x", "d", $)`, arg: "opts", vals: badOpts},
		{fn: "sock.sendto", code: `sock.sendto(D1, "@x", $)`, arg: "data", vals: badStrNL},
		{fn: "sock.recvfrom", code: `sock.recvfrom(D2, $)`, arg: "opts", vals: append([]string{`{sizee = 1}`}, badOpts...)},
		{fn: "sock.recvfrom", code: `sock.recvfrom(D2, {size = $})`, arg: "opts", vals: append([]string{`0`, `2^40`}, badInt...), want: "size"},
		{fn: "sock.recvfrom", code: `sock.recvfrom(D2, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "sock.connect_at", code: `sock.connect_at(DIR, "x", $)`, arg: "opts", vals: append([]string{`{typ = "stream"}`}, badOpts...)},
		{fn: "sock.connect_at", code: `sock.connect_at(DIR, $)`, arg: "name", vals: append([]string{`"a\0b"`}, badStrNL...)},
		{fn: "sock.setopt", code: `sock.setopt(A, "sndbuf", $)`, arg: "value", vals: []string{`0.5`, `2^32`, `1/0`, `0/0`, `"1"`, `nil`}},
		{fn: "sock.connector", code: `sock.connector(L, $)`, arg: "opts", vals: append([]string{`{timout = 1}`, `{tpye = "stream"}`}, badOpts...)},
		{fn: "sock.connector", code: `sock.connector(L, {timeout = $})`, arg: "opts", vals: append([]string{`0`, `1/0`}, badDur...), want: "timeout"},
		{fn: "sock.connector", code: `sock.connector(L, {type = $})`, arg: "opts", vals: append([]string{`"strem"`}, badStr...), want: "type"},
		{fn: "sock.listen_in", code: `sock.listen_in($, "@x")`, arg: "netns", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "sock.listen_in", code: `sock.listen_in(CL, "@x")`, arg: "netns", vals: []string{""}, errno: "EBADF"},
		{fn: "sock.listen_in", code: `sock.listen_in(US, "@x", $)`, arg: "opts", vals: append([]string{`{tpye = "dgram"}`}, badOpts...)},
		{fn: "sock.listen_in", code: `sock.listen_in(US, "@x", {backlog = $})`, arg: "opts", vals: badInt, want: "backlog"},
		{fn: "sock.setopt", code: `sock.setopt(A, $, 1)`, arg: "name", vals: append([]string{`"SO_BOGUS"`}, badStrNL...)},
	}
	badInputsTried += runArgTable(t, sockSetup, cases)
}

const procSetup = `
	R, W = fd.pipe()
	CL = fd.memfd("closed"); CL:close()
	P = proc.spawn{"sleep", "10"}
`

func TestArgTableProc(t *testing.T) {
	spec := func(field string, vals []string, want string) argCase {
		return argCase{fn: "proc.spawn", code: `proc.spawn{"true", ` + field + ` = $}`, arg: "spec", vals: vals, want: want}
	}
	cases := []argCase{
		{fn: "proc.spawn", code: `proc.spawn($)`, arg: "spec", vals: []string{`nil`, `"true"`, `1`, `{}`, `{1}`, `{"true", [3] = "x"}`, `{""}`, `{"tr\0ue"}`, `{"true", "a\0b"}`}},
		{fn: "proc.spawn", code: `proc.spawn{"true", $}`, arg: "spec", vals: []string{`{}`, `true`, `1`}},
		spec("uid", badInt, "uid"),
		spec("gid", badInt, "gid"),
		spec("groups", []string{`{2^32}`, `{-1}`, `{0.5}`, `{"x"}`, `{1/0}`, `{0/0}`, `1`, `"0"`}, "groups"),
		spec("pdeathsig", append([]string{`1000`, `0`, `65`, `"SIGBOGUS"`}, badNum...), "pdeathsig"),
		spec("pgroup", append([]string{`-5`, `2^23`}, badNum...), "pgroup"),
		spec("umask", append([]string{`4096`, `512`, `"999"`}, badNum...), "umask"),
		spec("notify_fd", append([]string{`2`, `0`}, badInt...), "notify_fd"),
		spec("setsid", badBool, "setsid"),
		spec("detach", badBool, "detach"),
		spec("notify", badBool, "notify"),
		spec("cwd", []string{`1`, `true`, `{}`, `""`, `"/tmp\0x"`}, "cwd"),
		spec("env", []string{`1`, `"x"`, `{"NOEQUALS"}`, `{A = {}}`, `{A = true}`, `{["A=B"] = "c"}`, `{A = "x\0y"}`, `{[""] = "x"}`}, "env"),
		spec("env_add", []string{`1`, `{"NOEQUALS"}`, `{A = {}}`}, "env_add"),
		spec("fds", []string{`1`, `{[-1] = R}`, `{[0.5] = R}`, `{[2^32] = R}`, `{[1/0] = R}`, `{[3] = 4}`, `{x = R}`}, "fds"),
		{fn: "proc.spawn", code: `proc.spawn{"true", $}`, arg: "spec", vals: []string{`fds = {[3] = CL}`, `stdin = CL`, `cgroup = CL`, `listen = {CL}`}, errno: "EBADF", want: "closed"},
		spec("rlimits", []string{`1`, `{nofile = -1}`, `{nofile = 0.5}`, `{nofile = 0/0}`, `{nofil = 1}`, `{nofile = {2, 1}}`, `{nofile = "x"}`}, "rlimits"),
		spec("stdin", []string{`"pipex"`, `1`}, "stdin"),
		spec("listen_names", []string{`{1}`, `"x"`}, "listen_names"),
		spec("cgroup", []string{`1`, `"x"`}, "cgroup"),
		spec("usr", []string{`0`}, `did you mean "uid"`),
		spec("namespaces", []string{`"user"`, `{"nett"}`, `{1}`, `{x = "user"}`}, "namespaces"),
		spec("uid_map", []string{`"x"`, `1`, `{{0, 0}}`, `{{0, -1, 1}}`, `{{0, 0.5, 1}}`, `{{0, 2^32, 1}}`, `{{0, 0, 0/0}}`, `{}`}, "uid_map"),
		spec("no_new_privs", badBool, "no_new_privs"),
		spec("root", []string{`1`, `{1}`, `{{bnd = "/x"}}`, `{{bind = "/x", ro = 1}}`, `{{tmpfs = 1}}`}, "root"),
		spec("join", []string{`1`, `{nett = R}`, `{net = 3}`}, "join"),
		spec("evn", []string{`{}`}, `did you mean "env"`),
		spec("timeout", []string{`1`}, "unknown option"),
		{fn: "proc.exec", code: `proc.exec{"true", uid = $}`, arg: "spec", vals: []string{`2^32`, `-1`, `0.5`}, want: "uid"},
		{fn: "proc.exec", code: `proc.exec{"true", stdout = "pipe"}`, arg: "spec", vals: []string{""}},
		{fn: "proc.getfd", code: `proc.getfd($, 0)`, arg: "pid", vals: append([]string{`0`, `2^22 + 1`, `2^32 + 1`}, badReq...)},
		{fn: "proc.getfd", code: `proc.getfd(P:pid(), $)`, arg: "n", vals: badReq},
		{fn: "proc.getfd", code: `proc.getfd(P:pid(), 0, $)`, arg: "opts", vals: append([]string{`{mode = "copy"}`, `{mdoe = "dup"}`, `{mode = 1}`}, badOpts...)},
		{fn: "Proc:getfd", code: `P:getfd($)`, arg: "n", vals: badReq},
		{fn: "Proc:getfd", code: `P:getfd(0, $)`, arg: "opts", vals: badOpts},
		{fn: "Proc:kill", code: `P:kill($)`, arg: "sig", vals: append([]string{`65`, `"SIGBOGUS"`, `{}`, `true`}, badNum...)},
		{fn: "Proc:wait", code: `P:wait($)`, arg: "opts", vals: badOpts},
		{fn: "Proc:wait", code: `P:wait{timeout = $}`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "Proc:ready", code: `P:ready($)`, arg: "opts", vals: badOpts},
		{fn: "Proc:ready", code: `P:ready{timeout = $}`, arg: "opts", vals: badDur, want: "timeout"},
	}
	badInputsTried += runArgTable(t, procSetup, cases)
}

const taskSetup = `
	T = task.spawn(function() task.sleep(0.01) end)
`

func TestArgTableTask(t *testing.T) {
	cases := []argCase{
		{fn: "task.sleep", code: `task.sleep($)`, arg: "seconds", vals: append([]string{`nil`}, badDur...)},
		{fn: "task.timeout", code: `task.timeout($, function() end)`, arg: "seconds", vals: append([]string{`nil`}, badDur...)},
		{fn: "task.timeout", code: `task.timeout(1, $)`, arg: "fn", vals: []string{`nil`, `1`, `"x"`, `{}`}},
		{fn: "task.spawn", code: `task.spawn($)`, arg: "fn", vals: []string{`nil`, `1`, `"x"`, `{}`}},
		{fn: "task.wait", code: `task.wait($)`, arg: "task", vals: []string{`nil`, `1`, `"x"`}},
		{fn: "task.wait", code: `task.wait(T, $)`, arg: "opts", vals: []string{`{bogus = 1}`, `{timout = 1}`}},
		{fn: "task.wait", code: `task.wait(T, {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "Task:wait", code: `T:wait($)`, arg: "opts", vals: badOpts},
		{fn: "Task:wait", code: `T:wait{timeout = $}`, arg: "opts", vals: badDur, want: "timeout"},
	}
	badInputsTried += runArgTable(t, taskSetup, cases)
}

func TestArgTableHelpers(t *testing.T) {
	cases := []argCase{
		{fn: "fs.mkdir", code: `fs.mkdir(os.tmpname() .. "d", $)`, arg: "mode", vals: append([]string{`4096`, `-493`}, badInt...)},
		{fn: "fs.chmod", code: `fs.chmod("/nonexistent", $)`, arg: "mode", vals: badReq},
		{fn: "fs.umask", code: `fs.umask($)`, arg: "mask", vals: append([]string{`512`}, badReq...)},
		{fn: "fs.wait_path", code: `fs.wait_path("/", $)`, arg: "opts", vals: badOpts},
		{fn: "fs.wait_path", code: `fs.wait_path("/", {timeout = $})`, arg: "opts", vals: badDur, want: "timeout"},
		{fn: "user.lookup", code: `user.lookup($)`, arg: "user", vals: append([]string{`{uid = 2^32, gid = 0}`, `{uid = 0, gid = 0.5}`, `{uid = 0, gid = 0, nmae = "x"}`, `nil`, `{}`, `true`}, badNum...)},
		{fn: "proc.pidfd_open", code: `proc.pidfd_open($)`, arg: "pid", vals: append([]string{`0`, `2^22 + 1`}, badReq...)},
		{fn: "signal.watch", code: `signal.watch($)`, arg: "signals", vals: []string{`nil`, `"HUP"`, `{}`, `{1}`, `{"BOGUS"}`, `{"KILL"}`}},
		{fn: "user.drop", code: `user.drop($)`, arg: "user", vals: []string{`2^32`, `-1`, `65534.7`, `{uid = 2^32, gid = 65534}`, `{uid = 65534, gid = -1}`}},
	}
	badInputsTried += runArgTable(t, "", cases)
}

// TestZBadInputCount reports the total (it runs after the tables when
// the package's tests run in file order, as go test does).
func TestZBadInputCount(t *testing.T) {
	t.Logf("the argument tables tried %d bad inputs", badInputsTried)
}
