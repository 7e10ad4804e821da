package luabind

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One test per "what was seen" item of issue 12: each failed before the
// checker and the loss fixes.

func TestSeenSpawnUid2p32DoesNotRunAsRoot(t *testing.T) {
	mustRun(t, `
		for _, spec in ipairs{
			{"id", "-u", uid = 2^32},
			{"id", "-u", uid = 65534.7},
			{"id", "-G", groups = {2^32}},
			{"id", "-u", uid = 2^32 - 1},
		} do
			local ok, e = pcall(proc.spawn, spec)
			assert(not ok and e.name == "EINVAL" and e.op == "proc.spawn", tostring(e))
			assert(e.msg:find("uid") or e.msg:find("groups"), e.msg)
		end
	`)
}

func TestSeenNumbersWrapOnTheWayToTheKernel(t *testing.T) {
	mustRun(t, `
		local p = proc.spawn{"sleep", "10"}
		local ok, e = pcall(proc.getfd, 2^32 + p:pid(), 0)
		assert(not ok and e.argname == "pid" and e.msg:find("out of range"), tostring(e))
		ok, e = pcall(fd.from, 2^32 + 1)
		assert(not ok and e.argname == "n" and e.msg:find("out of range"), tostring(e))
		ok, e = pcall(user.lookup, 2^32)
		assert(not ok and e.op == "user.lookup" and e.msg:find("out of range"), tostring(e))
		p:kill("SIGKILL"); p:wait()
	`)
}

func TestSeenHugeDurationsDoNotEndAtOnce(t *testing.T) {
	mustRun(t, `
		local woke = {}
		local sleepers = {}
		for i, d in ipairs{1e10, math.huge, 2^63} do
			sleepers[i] = task.spawn(function() task.sleep(d); woke[i] = true end)
		end
		local timed = task.spawn(function()
			return task.timeout(1e10, function() task.sleep(0.05) return "inner finished" end)
		end)
		assert(timed:wait() == "inner finished")
		for i, s in ipairs(sleepers) do
			assert(not woke[i] and not s:done(), "sleep #" .. i .. " returned at once")
			s:cancel()
		end
		-- a far timeout is no timeout: the read gets its data
		local r, w = fd.pipe()
		task.spawn(function() task.sleep(0.02) w:write("x") end)
		assert(r:read(1, {timeout = 1e10}) == "x")
	`)
}

func TestSeenOptionsAreChecked(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		local function refused(want, f, ...)
			local ok, e = pcall(f, ...)
			assert(not ok and e.name == "EINVAL", "accepted: " .. want)
			assert(tostring(e):find(want, 1, true), tostring(e) .. " lacks " .. want)
		end
		refused("opts.timeout: expected a number of seconds, got string", r.read, r, 10, {timeout = "1"})
		refused("options go third", r.read, r, {timeout = 1})
		refused('unknown option "timout" (did you mean "timeout"?)', w.write, w, "x", {timout = 1})
		refused('unknown option "bogus"', sock.bind_anon, {bogus = 1})
		refused('unknown option "tpye" (did you mean "type"?)', sock.listen_on, "@x", {tpye = "dgram"})
		refused('did you mean "uid"', proc.spawn, {"true", usr = 0})
		refused("is negative", r.read, r, 1, {timeout = -1})
		-- timeout = 0 does not wait: ETIMEDOUT at once on an empty pipe
		local ok, e = pcall(r.read, r, 1, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT" and e.msg:find("timeout = 0 does not wait"), tostring(e))
		-- and the same as task.timeout(0, f)
		ok, e = pcall(task.timeout, 0, function() return r:read(1) end)
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		-- data already there is read with timeout = 0
		w:write("y")
		assert(r:read(1, {timeout = 0}) == "y")
	`)
}

func TestSeenSendfdsOverTCPAndUDPRefused(t *testing.T) {
	mustRun(t, `
		local l = sock.listen_on("tcp:127.0.0.1:0")
		local c = sock.connect(l:info().addr)
		local s = sock.accept(l)
		local u = sock.socket("inet", "dgram")
		local m = fd.memfd("x")
		for _, so in ipairs{c, u} do
			local ok, e = pcall(sock.sendfds, so, {m}, "data")
			assert(not ok and e.errno == 95 and e.argname == "s", tostring(e))
			assert(e.msg:find("cannot carry descriptors"), e.msg)
		end
		-- nothing went out before the refusal
		local ok, e = pcall(s.read, s, 10, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT", "the peer received " .. tostring(e))
		-- with no descriptors a TCP socket is fine
		assert(sock.sendfds(c, {}, "plain") == 5)
	`)
}

func TestSeenCtruncKeepsTheData(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local m = fd.memfd("x")
		sock.sendfds(a, {m, m, m}, "hello")
		sock.sendfds(a, {}, "world")
		local ok, e = pcall(sock.recvfds, b, {max = 1})
		assert(not ok and e.name == "MSG_CTRUNC", tostring(e))
		assert(e.data == "hello" and e.arrived == 1, "data " .. tostring(e.data) .. " arrived " .. tostring(e.arrived))
		assert(e.msg:find("data field"), e.msg)
		-- the next message is intact: nothing was skipped
		local fds, data = sock.recvfds(b)
		assert(#fds == 0 and data == "world", data)
		-- max = 0: no room at all, same report
		sock.sendfds(a, {m}, "again")
		ok, e = pcall(sock.recvfds, b, {max = 0})
		assert(not ok and e.data == "again" and e.arrived == 0, tostring(e))
	`)
}

func TestSeenPartialWriteCarriesWritten(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		local big = string.rep("z", 1024 * 1024)
		local ok, e = pcall(w.write, w, big, {timeout = 0.05})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		assert(type(e.written) == "number" and e.written > 0 and e.written < #big, tostring(e.written))
		local got = 0
		while true do
			local ok, s = pcall(r.read, r, 65536, {timeout = 0})
			if not ok then break end
			got = got + #s
		end
		assert(got == e.written, "read " .. got .. " but written says " .. e.written)
		-- an error (not a timeout) part way carries it too
		local a, b = sock.pair()
		ok, e = pcall(a.write, a, "x", {timeout = 0})
		assert(ok)
	`)
}

func TestSeenSendfdsDeliveredThenFailedSaysSo(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair()
		sock.setopt(a, "sndbuf", 4096)
		local m = fd.memfd("x")
		local payload = string.rep("p", 4 * 1024 * 1024)
		local ok, e = pcall(sock.sendfds, a, {m}, payload, {timeout = 0.05})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		assert(e.op == "sendfds" and e.delivered == 1 and e.written > 0 and e.written < #payload, tostring(e))
		assert(e.msg:find("descriptors and"), e.msg)
		-- and they did arrive
		local fds = sock.recvfds(b, {size = 65536})
		assert(#fds == 1 and fds[1]:info().kind == "memfd")
	`)
}

func TestSeenClosedHandleIsEBADF(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		r:close()
		for _, f in ipairs{function() return r:read(1) end, function() return fd.dup(r) end,
			function() return r:info() end, function() return sock.sendfds(w, {r}) end,
			function() return proc.spawn{"true", fds = {[3] = r}} end} do
			local ok, e = pcall(f)
			assert(not ok and e.name == "EBADF" and e.errno == 9, tostring(e))
		end
	`)
}

func TestSeenSpawnErrorsNameTheField(t *testing.T) {
	mustRun(t, `
		local ok, e = pcall(proc.spawn, {"true", cwd = "/nonexistent"})
		assert(not ok and e.name == "ENOENT" and e.field == "cwd" and e.msg:find('cwd "/nonexistent"'), tostring(e))
		ok, e = pcall(proc.spawn, {"true", cwd = "/etc/passwd"})
		assert(not ok and e.name == "ENOTDIR" and e.field == "cwd", tostring(e))
		ok, e = pcall(proc.spawn, {"/nonexistent/prog"})
		assert(not ok and e.name == "ENOENT" and e.field == "argv[0]", tostring(e))
		for _, spec in ipairs{
			{"tr\0ue"}, {"true", "a\0b"}, {"true", env = {A = "x\0y"}},
			{"true", pdeathsig = 1000}, {"true", pgroup = -5},
		} do
			ok, e = pcall(proc.spawn, spec)
			assert(not ok and e.name == "EINVAL" and e.argname == "spec", tostring(e))
		end
		ok, e = pcall(proc.spawn, {"true", pdeathsig = 1000})
		assert(e.msg:find("pdeathsig"), e.msg)
		ok, e = pcall(proc.spawn, {"true", pgroup = -5})
		assert(e.msg:find("pgroup"), e.msg)
		ok, e = pcall(proc.spawn, {"true", env = {A = "x\0y"}})
		assert(e.msg:find("env") and e.msg:find("NUL"), e.msg)
		-- after the fork: the trampoline reports the step that failed
		ok, e = pcall(proc.spawn, {"true", rlimits = {nofile = {2^40, 2^40}}})
		assert(not ok and e.field == "rlimits", tostring(e))
	`)
}

func TestSeenMissingProcessIsESRCH(t *testing.T) {
	mustRun(t, `
		for _, mode in ipairs{"dup", "reopen"} do
			local ok, e = pcall(proc.getfd, 4000000, 3, {mode = mode})
			assert(not ok and e.name == "ESRCH", mode .. ": " .. tostring(e))
			assert(not e.msg:find("no such process (no such process)", 1, true), e.msg)
			assert(e.msg:find("no process 4000000"), e.msg)
		end
	`)
}

func TestSeenTimeoutsSayWhatTimedOut(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		local ok, e = pcall(r.read, r, 1, {timeout = 0.05})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		assert(tostring(e) == "read " .. tostring(r) .. ": ETIMEDOUT: no data within 50ms", tostring(e))
		local l = sock.listen_on("@fdwire-strict-to-" .. math.random(1e9))
		ok, e = pcall(sock.accept, l, {timeout = 0.01})
		assert(tostring(e):find("^accept <fd %d+ unix/stream listening[^>]*>: ETIMEDOUT: no connection within 10ms"), tostring(e))
		-- task.timeout fires first: it is the one reported
		ok, e = pcall(task.timeout, 0.05, function() return r:read(1, {timeout = 5}) end)
		assert(not ok and e.msg:find("task.timeout of 50ms expired"), tostring(e))
		assert(not e.msg:find("5s"), e.msg)
		-- the call's own timeout fires first: that one is reported
		ok, e = pcall(task.timeout, 5, function() return r:read(1, {timeout = 0.02}) end)
		assert(not ok and e.msg == "no data within 20ms", tostring(e))
		local p = proc.spawn{"sleep", "10"}
		ok, e = pcall(p.wait, p, {timeout = 0.01})
		assert(not ok and tostring(e) == "wait <proc " .. p:pid() .. " sleep>: ETIMEDOUT: not ended within 10ms", tostring(e))
		p:kill("SIGKILL"); p:wait()
		ok, e = pcall(task.timeout, 0.02, function() return task.sleep(5) end)
		assert(not ok and e.name == "ETIMEDOUT" and e.msg:find("task.timeout of 20ms"), tostring(e))
	`)
}

func TestSeenStdlibErrorsAreStructured(t *testing.T) {
	mustRun(t, `
		local _, ref = pcall(fd.from, -1)
		for _, f in ipairs{function() task.timeout(-1, print) end, function() topo.summary(5) end} do
			local ok, e = pcall(f)
			assert(not ok and type(e) == "table" and getmetatable(e) == getmetatable(ref), tostring(e))
			assert(e.name == "EINVAL" and e.errno == 22 and e.op and e.msg, tostring(e))
		end
	`)
}

func TestSeenErrorsWithoutMessagePrintSomething(t *testing.T) {
	msg := mustFail(t, `error({})`, "an error table with no op, msg or message field was raised: {}")
	if strings.HasSuffix(strings.SplitN(msg, "\n", 2)[0], ": ") {
		t.Errorf("empty report: %q", msg)
	}
	mustFail(t, `error(nil)`, "error(nil) was raised")
	mustFail(t, `error(setmetatable({}, {__tostring = function() return "my own error" end}))`, "my own error")
}

func TestSeenRuntimeErrorsPrintATraceback(t *testing.T) {
	mustFail(t, `
		local function inner(t)
			return t.x.y
		end
		local function outer() local v = inner({}) return v end
		outer()
	`, "attempt to index", "stack traceback", ":3:", ":5:")
}

func TestSeenHugeReadsAreRefusedNotAllocated(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		local a, b = sock.pair("dgram")
		for _, f in ipairs{
			function() return r:read(2^40) end, function() return r:read(0/0) end,
			function() return r:read(1e300) end, function() return sock.recvfds(b, {size = 2^40}) end,
			function() return sock.recvfrom(b, {size = 2^40}) end,
		} do
			local ok, e = pcall(f)
			assert(not ok and e.name == "EINVAL" and e.argname and (e.msg:find("64 MiB") or e.msg:find("got nan")), tostring(e))
		end
	`)
}

func TestSeenProgramLookupHasNoImplicitDot(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil")
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho EVIL RAN\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(old) })
	out := mustRun(t, `
		for _, spec in ipairs{
			{"evil", env = {}},
			{"evil", env = {PATH = ""}},
			{"evil", env = {PATH = ":/usr/bin"}},
			{"evil", env = {PATH = "."}},
			{"evil", env = {PATH = "/usr/bin:."}},
		} do
			local ok, e = pcall(proc.spawn, spec)
			assert(not ok and e.name == "ENOENT" and e.field == "argv[0]", "ran ./evil with PATH=" .. tostring(spec.env.PATH) .. ": " .. tostring(e))
		end
		local ok, e = pcall(proc.spawn, {"evil", env = {PATH = "."}})
		assert(e.msg:find("relative"), e.msg)
		-- with no PATH at all the default one is searched
		local p = proc.spawn{"true", env = {}}
		assert(p:wait() == 0)
		-- asked for explicitly, ./evil runs
		local p2 = proc.spawn{"./evil", env = {}, stdout = "pipe"}
		print(p2:stdout():read(100))
		p2:wait()
	`)
	if out != "EVIL RAN\n\n" && out != "EVIL RAN\n" {
		t.Fatalf("explicit ./evil: got %q", out)
	}
}

func TestSeenOpenModeIsChecked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	mustRun(t, `
		local p = ...
		local ok, e = pcall(fd.open, "`+p+`", "w", -1)
		assert(not ok and e.argname == "mode", tostring(e))
		assert(not fs.exists("`+p+`"), "the file was created")
		ok, e = pcall(fd.open, "`+p+`", "w", 4096)
		assert(not ok and e.argname == "mode", tostring(e))
		local f = fd.open("`+p+`", "w", 384)
		assert(fs.stat("`+p+`").mode == 384)
		f:close()
	`)
}
