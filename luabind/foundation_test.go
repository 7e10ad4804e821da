package luabind

import (
	"strings"
	"testing"
)

func TestFdPipeReadWrite(t *testing.T) {
	out := mustRun(t, `
		local r, w = fd.pipe()
		assert(w:write("hello") == 5)
		w:close()
		print(r:read(100), r:read(100))
		print(tostring(r):match("^<fd %d+ pipe>$") ~= nil)
	`)
	if out != "hello\tnil\ntrue\n" {
		t.Fatalf("got %q", out)
	}
}

func TestFdInfoKinds(t *testing.T) {
	mustRun(t, `
		local r, w = fd.pipe()
		assert(r:info().kind == "pipe")
		local m = fd.memfd("x")
		assert(m:info().kind == "memfd", m:info().kind)
		local e = fd.eventfd(0)
		assert(e:info().kind == "eventfd", e:info().kind)
		local d = fd.open("/", "O_RDONLY|O_DIRECTORY")
		assert(d:info().kind == "dir")
		local f = fd.open("/proc/self/status")
		local i = f:info()
		assert(i.kind == "file" and i.cloexec and i.flags[1] == "O_RDONLY", i.kind)
		local l = sock.listen_on("tcp:127.0.0.1:0")
		local li = l:info()
		assert(li.kind == "socket" and li.domain == "inet" and li.type == "stream" and li.listening)
		local c = sock.connect(li.addr)
		assert(c:info().peer == li.addr)
		local p = proc.spawn{"true"}
		local pf = p:pidfd()
		assert(pf:info().kind == "pidfd", pf:info().kind)
		p:wait()
	`)
}

func TestEveryHandleIsCloexec(t *testing.T) {
	mustRun(t, `
		local hs = {fd.pipe()}
		for _, h in ipairs({sock.pair("dgram")}) do hs[#hs+1] = h end
		hs[#hs+1] = fd.memfd("m")
		hs[#hs+1] = sock.socket("inet6", "dgram")
		hs[#hs+1] = fd.dup(hs[1])
		for i, h in ipairs(hs) do assert(h:info().cloexec, "handle " .. i .. " is not close-on-exec") end
		local a, b = sock.pair()
		sock.sendfds(a, {hs[1]})
		local got = sock.recvfds(b)
		assert(got[1]:info().cloexec, "received fd is not close-on-exec")
		local l = sock.listen_on("@")
		local c = sock.connect(l:info().addr)
		assert(sock.accept(l):info().cloexec and c:info().cloexec)
	`)
}

func TestCloseIsIdempotentAndUseAfterCloseFails(t *testing.T) {
	mustFail(t, `
		local r, w = fd.pipe()
		r:close(); r:close()
		assert(r:closed())
		r:read(1)
	`, "EBADF", "closed")
}

func TestBorrowedNeverClosed(t *testing.T) {
	mustRun(t, `
		local e = fd.from(2)
		e:close()
		assert(fd.stderr:info().owned == false)
		fd.stderr:write("")
	`)
}

func TestArgumentErrors(t *testing.T) {
	cases := []struct{ code, want string }{
		{`fd.dup(3)`, "fd.dup: EINVAL: bad argument #1 (f): expected an Fd handle, got number (a raw number is not a handle: borrow it with fd.from(n))"},
		{`fd.from(fd.stdin)`, "bad argument #1 (n): expected a descriptor number, got Fd"},
		{`sock.connect("tcp:nope")`, `address "tcp:nope"`},
		{`sock.connect("tcp:example.com:80")`, "not a numeric IP address"},
		{`sock.socket("ipx")`, `bad argument #1 (domain)`},
		{`sock.pair("bogus")`, `bad argument #1 (type)`},
		{`proc.spawn{}`, "argv is empty"},
		{`proc.spawn{"true", fds={[3]=7}}`, "fds[3] is a number, not an Fd handle"},
		{`local r = fd.pipe(); r:close(); proc.spawn{"true", fds={[3]=r}}`, "fds[3] is a closed handle"},
		{`task.sleep("x")`, "bad argument #1 (seconds)"},
		{`fd.open("/nonexistent/x")`, "open /nonexistent/x: ENOENT"},
	}
	for _, c := range cases {
		t.Run(strings.Fields(c.code)[0], func(t *testing.T) {
			mustFail(t, c.code, c.want)
		})
	}
}

func TestErrorValueFields(t *testing.T) {
	out := mustRun(t, `
		local ok, e = pcall(sock.connect, "unix:/nonexistent/sock")
		assert(not ok)
		print(e.op, e.addr, e.errno, e.name, e.msg)
		print(tostring(e))
	`)
	want := "connect\t/nonexistent/sock\t2\tENOENT\tno such file or directory\nconnect /nonexistent/sock: ENOENT: no such file or directory\n"
	if out != want {
		t.Fatalf("got %q want %q", out, want)
	}
}

func TestConnectRefusedAndPeerClosed(t *testing.T) {
	mustFail(t, `
		local l = sock.listen_on("@")
		local a = l:info().addr
		l:close()
		sock.connect(a)
	`, "ECONNREFUSED")
	mustFail(t, `
		local a, b = sock.pair()
		b:close()
		a:write("x")
	`, "EPIPE")
}

func TestSendRecvFds(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local fds = {}
		for i = 1, 253 do fds[i] = w end
		sock.sendfds(a, fds, "many")
		local got, data = sock.recvfds(b)
		assert(#got == 253 and data == "many")
		for _, f in ipairs(got) do assert(f:info().ino == w:info().ino) f:close() end
		-- an empty datagram is not end-of-stream
		sock.sendfds(a, {}, "")
		local g, d = sock.recvfds(b)
		assert(d == "" and #g == 0)
		a:close()
		local g2, d2 = sock.recvfds(b)
		assert(d2 == nil and #g2 == 0, "end of stream must read as nil data")
	`)
}

func TestSendFdsLimits(t *testing.T) {
	mustFail(t, `
		local a, b = sock.pair()
		local r = fd.pipe()
		local fds = {}
		for i = 1, 254 do fds[i] = r end
		sock.sendfds(a, fds, "x")
	`, "EINVAL", "at most 253 (SCM_MAX_FD)")
}

func TestRecvFdsCtrunc(t *testing.T) {
	msg := mustFail(t, `
		local a, b = sock.pair()
		local r, w = fd.pipe()
		sock.sendfds(a, {r, w, r}, "x")
		sock.recvfds(b, {max = 1})
	`, "MSG_CTRUNC", "lost")
	if !strings.Contains(msg, "1 arrived and were closed") {
		t.Errorf("message should say how many arrived: %s", msg)
	}
}

func TestRecvTimeout(t *testing.T) {
	mustFail(t, `
		local a, b = sock.pair()
		sock.recvfds(b, {timeout = 0.05})
	`, "recvfds", "ETIMEDOUT")
}

func TestPeerCred(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair()
		local p = sock.peer(a)
		local me = proc.self()
		assert(p.pid == me.pid and p.uid == me.uid and p.gid == me.gid)
		if p.pidfd then assert(p.pidfd:info().kind == "pidfd") p.pidfd:close() end
	`)
}

func TestTasksInterleave(t *testing.T) {
	out := mustRun(t, `
		local log = {}
		local a = task.spawn(function() for i = 1, 3 do log[#log+1] = "a" .. i; task.sleep(0.01) end end)
		local b = task.spawn(function() for i = 1, 3 do log[#log+1] = "b" .. i; task.sleep(0.01) end end)
		task.wait(a, b)
		print(table.concat(log, " "))
	`)
	if out != "a1 b1 a2 b2 a3 b3\n" {
		t.Fatalf("got %q", out)
	}
}

func TestBlockingUnderPcallInsideTask(t *testing.T) {
	out := mustRun(t, `
		local a, b = sock.pair()
		local t = task.spawn(function()
			local ok, fds, data = pcall(sock.recvfds, b)
			local ok2, err = pcall(sock.recvfds, b, {timeout = 0.02})
			local ok3, v = xpcall(function() task.sleep(0.01); return "slept" end, debug.traceback)
			return ok, data, ok2, err.name, ok3, v
		end)
		task.sleep(0.01)
		sock.sendfds(a, {}, "ping")
		print(t:wait())
	`)
	if out != "true\tping\tfalse\tETIMEDOUT\ttrue\tslept\n" {
		t.Fatalf("got %q", out)
	}
}

func TestTaskErrorPropagatesToWaiter(t *testing.T) {
	mustFail(t, `
		local t = task.spawn(function() task.sleep(0.01); error("boom") end)
		t:wait()
	`, "boom")
}

func TestTaskCancel(t *testing.T) {
	mustRun(t, `
		local t = task.spawn(function() task.sleep(60) end)
		task.sleep(0.01)
		t:cancel()
		local ok, e = pcall(task.wait, t)
		assert(not ok and e.name == "ECANCELED", tostring(e))
	`)
}

func TestDeadlockDetected(t *testing.T) {
	mustFail(t, `
		local me = task.current()
		local t = task.spawn(function() me:wait() end)
		t:wait()
	`, "EDEADLK")
}

func TestSpawnChildHoldsOnlyItsMap(t *testing.T) {
	out := mustRun(t, `
		local r, w = fd.pipe()
		local extra = fd.memfd("not-for-the-child")
		local out_r, out_w = fd.pipe()
		local p = proc.spawn{"sh", "-c", "ls /proc/$$/fd", fds = {[1] = out_w, [7] = w, [9] = w}}
		out_w:close()
		print((out_r:read(200):gsub("%s+", " ")))
		print(p:wait())
	`)
	// ls lists the waiting shell's descriptors: exactly 0, 1, 2, 7 and 9.
	got := strings.Fields(strings.Split(out, "\n")[0])
	want := map[string]bool{"0": true, "1": true, "2": true, "7": true, "9": true}
	for _, g := range got {
		if !want[g] {
			t.Errorf("child holds unexpected fd %s (all: %v)", g, got)
		}
		delete(want, g)
	}
	if len(want) != 0 {
		t.Errorf("child lacks fds %v", want)
	}
	if !strings.HasPrefix(strings.Split(out, "\n")[1], "0\t") {
		t.Errorf("child should exit 0: %q", out)
	}
}

func TestOsExitRunsCleanup(t *testing.T) {
	out, msg := runLua(t, `
		local p = proc.spawn{"sleep", "60"}
		local r, w = fd.pipe()
		pcall(os.exit, 3) -- os.exit cannot be caught
		print("not reached")
	`)
	if msg != "" || strings.Contains(out, "not reached") {
		t.Fatalf("out %q msg %q", out, msg)
	}
}

func TestDocumentedTimeoutOnWait(t *testing.T) {
	mustRun(t, `
		local p = proc.spawn{"sleep", "60"}
		local ok, e = pcall(p.wait, p, {timeout = 0.05})
		assert(not ok and e.name == "ETIMEDOUT")
		p:kill("KILL")
		local sig, st = p:wait()
		assert(sig == "SIGKILL" and st.signal == "SIGKILL")
	`)
}

// gopher-lua cannot suspend a coroutine from inside a for-in iterator or a
// metamethod; blocking calls there wait in place (or, for task waits, say
// why they cannot) instead of crashing the VM.
func TestBlockingInsideIteratorAndMetamethod(t *testing.T) {
	out := mustRun(t, `
		local a, b = sock.pair()
		local n = 0
		local got = {}
		for d in function()
			n = n + 1
			if n > 2 then return nil end
			task.sleep(0.001)
			sock.sendfds(a, {}, "m" .. n)
			local _, d = sock.recvfds(b, {timeout = 1})
			return d
		end do got[#got + 1] = d end
		print(table.concat(got, ","))
		local lazy = setmetatable({}, {__index = function(_, k)
			local _, d = sock.recvfds(b, {timeout = 0.02})
			return d
		end})
		local ok, e = pcall(function() return lazy.x end)
		print(ok, e.name)
		local other = task.spawn(function() end)
		local ok2, e2 = pcall(function()
			for x in function() other:wait() end do end
		end)
		print(ok2, e2.name)
	`)
	if out != "m1,m2\nfalse\tETIMEDOUT\nfalse\tEPERM\n" {
		t.Fatalf("got %q", out)
	}
}

// When the main chunk ends, tasks still parked are abandoned at once: the
// run does not wait for their events (here a child that would exit later).
func TestMainEndAbandonsParkedTasks(t *testing.T) {
	out := mustRun(t, `
		local p = proc.spawn{"sleep", "60"}
		task.spawn(function() p:wait() print("never") end)
		task.spawn(function() task.sleep(60) print("never") end)
		print("main done")
	`)
	if out != "main done\n" {
		t.Fatalf("got %q", out)
	}
}

func TestFdCloseMany(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local batch = {}
		for i = 1, 253 do batch[i] = r end
		sock.sendfds(a, batch, "x")
		local fds = sock.recvfds(b)
		assert(fd.close(fds) == 253)
		for _, h in ipairs(fds) do assert(h:closed()) end
		assert(fd.close(r, {w}, r) == 3, "closed handles count and are skipped")
		local ok, e = pcall(fd.close, {a, 3})
		assert(not ok and e.name == "EINVAL" and tostring(e):find("argument #1%[2%] is a number"), tostring(e))
	`)
}

func TestFdSplice(t *testing.T) {
	out := mustRun(t, `
		-- pipe to pipe, more than both pipes hold, with a writer and a
		-- reader task on the far ends
		local a_r, a_w = fd.pipe()
		local b_r, b_w = fd.pipe()
		local relay = task.spawn(function()
			local total = 0
			while true do
				local n = fd.splice(a_r, b_w, 65536, {timeout = 10})
				if n == 0 then break end
				total = total + n
			end
			b_w:close()
			return total
		end)
		task.spawn(function() a_w:write(string.rep("x", 300000)); a_w:close() end)
		local got = 0
		while true do
			local s = b_r:read()
			if not s then break end
			got = got + #s
		end
		print(got, relay:wait())
		-- SPLICE_F_NONBLOCK is per call: the descriptions stay blocking
		for _, h in ipairs({a_r, b_r}) do
			for _, f in ipairs(fd.info(h).flags) do assert(f ~= "O_NONBLOCK") end
		end

		-- a file (its offset moves) into a pipe, then the pipe into a socket
		local p_r, p_w = fd.pipe()
		local s1, s2 = sock.pair()
		local src = fd.memfd("src2")
		src:write("hello splice")
		local rd = fd.open("/proc/self/fd/" .. src:num(), "r")
		print(fd.splice(rd, p_w, 5), fd.splice(rd, p_w, 100), fd.splice(rd, p_w, 100))
		print(fd.splice(p_r, s1, 100))
		print(s2:read(100))

		-- errors
		local ok, e = pcall(fd.splice, src, fd.memfd("x"))
		print(ok, e.name)
		local q_r, q_w = fd.pipe()
		ok, e = pcall(fd.splice, q_r, s1, 10, {timeout = 0.05})
		print(ok, e.name)
		q_r:close()
		ok, e = pcall(fd.splice, q_r, s1)
		print(ok, e.name)
		ok, e = pcall(fd.splice, q_w, s1, 0)
		print(ok, e.name)
	`)
	// A closed handle is EBADF (it was EINVAL with "(EBADF)" in the text).
	want := "300000\t300000\n5\t7\t0\n12\nhello splice\nfalse\tEINVAL\nfalse\tETIMEDOUT\nfalse\tEBADF\nfalse\tEINVAL\n"
	if out != want {
		t.Fatalf("got %q\nwant %q", out, want)
	}
}
