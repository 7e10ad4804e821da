package luabind

import (
	"io"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// Every test here runs through mustRun/mustFail: a leak check (no
// descriptor or child left), and a failed background task or stray
// stderr fails the test.

// Many messages of mixed sizes with 0, 1 and several descriptors each, in
// both message forms, arrive in order with their own descriptors (each a
// new, owned, close-on-exec handle in fd.list()); what arrives can be sent
// on as it is.
func TestSendRecvfdsManyGoodPath(t *testing.T) {
	out := mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local m = fd.memfd("many")
		local want, msgs = {}, {}
		for i = 1, 150 do
			local data = string.rep(string.char(65 + i % 26), (i * 37) % 300)
			local fds = {}
			for j = 1, i % 4 do fds[j] = ({r, w, m})[(i + j) % 3 + 1] end
			if i % 2 == 0 then
				local msg = {data}
				for j, f in ipairs(fds) do msg[j + 1] = f end
				msgs[i] = msg
			else
				msgs[i] = {data = data, fds = fds}
			end
			want[i] = {data = data, fds = fds}
		end
		msgs[151] = "a plain string is a message without descriptors"
		want[151] = {data = msgs[151], fds = {}}
		local before = #fd.list()
		local got = {}
		local reader = task.spawn(function()
			while #got < 151 do
				for _, msg in ipairs(sock.recvfds_many(b, {count = 7})) do got[#got + 1] = msg end
			end
		end)
		assert(sock.sendfds_many(a, msgs) == 151)
		reader:wait()
		local handles = 0
		for i, msg in ipairs(got) do
			local data = want[i].data
			if data == "" and #want[i].fds > 0 then data = "\0" end -- the byte descriptors travel with
			assert(msg[1] == data, "message " .. i .. ": data " .. #msg[1] .. " bytes, want " .. #data)
			assert(#msg - 1 == #want[i].fds, "message " .. i .. ": " .. (#msg - 1) .. " fds, want " .. #want[i].fds)
			for j = 2, #msg do
				local h, sent = msg[j], want[i].fds[j - 1]
				assert(h:info().inode == sent:info().inode, "message " .. i .. " fd " .. (j - 1) .. " is another file")
				assert(h:num() ~= sent:num(), "a new descriptor, not the sender's")
				local info = fd.open("/proc/self/fdinfo/" .. h:num(), "r")
				local flags = tonumber(info:read(200):match("flags:%s+(%d+)"), 8)
				info:close()
				assert(math.floor(flags / 524288) % 2 == 1, "message " .. i .. ": not close-on-exec") -- O_CLOEXEC
				handles = handles + 1
			end
		end
		assert(#fd.list() >= before + handles, "every received handle is listed")
		-- forwarding: a received list is a valid list to send
		local again = {}
		for i = 1, 20 do again[i] = got[i] end
		assert(sock.sendfds_many(a, again) == 20)
		local back = sock.recvfds_many(b, {count = 20})
		assert(#back == 20 and back[20][1] == got[20][1] and #back[20] == #got[20])
		-- batch = true: each message's descriptors are one FdBatch at [2]
		sock.sendfds_many(a, {{"x", r, w}, {"y"}})
		local bs = sock.recvfds_many(b, {batch = true})
		assert(#bs == 2 and #bs[1][2] == 2 and #bs[2][2] == 0 and bs[1][1] == "x", #bs)
		fd.close(bs[1][2], bs[2][2])
		-- the second result: every descriptor of the call, in message order,
		-- as one FdBatch of the messages' own handles
		sock.sendfds_many(a, {{"p", r, w}, "q", {"s", m}})
		local ms, all = sock.recvfds_many(b)
		assert(#ms == 3 and #all == 3, #all)
		assert(all[1] == ms[1][2] and all[2] == ms[1][3] and all[3] == ms[3][2], "not the same handles")
		local n0 = #fd.list()
		assert(fd.close(all) == 3 and ms[1][2]:closed() and ms[3][2]:closed())
		assert(#fd.list() == n0 - 3)
		-- an empty list sends nothing and returns 0
		assert(sock.sendfds_many(a, {}) == 0)
		print("ok", #got, handles)
	`)
	if !strings.HasPrefix(out, "ok\t151\t") {
		t.Fatalf("got %q", out)
	}
}

// recvfds_many takes what is queued, up to count, waiting only for the
// first; MSG_TRUNC and end of stream are reported per message and on the
// list, as recvfds reports them.
func TestRecvfdsManyCountTruncEOF(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("dgram")
		sock.sendfds_many(a, {"one", "two", string.rep("x", 100), "four"})
		local l = sock.recvfds_many(b, {count = 3, size = 10})
		assert(#l == 3 and l[1][1] == "one" and l[3][1] == string.rep("x", 10) and l[3].truncated and not l[1].truncated)
		l = sock.recvfds_many(b, {count = 3})
		assert(#l == 1 and l[1][1] == "four" and not l.eof)
		-- seqpacket: an empty message in the middle stays a message; the
		-- peer's close after the last one is eof on the list
		local c, d = sock.pair("seqpacket")
		sock.sendfds_many(c, {"x", "", "y"})
		c:close()
		l = sock.recvfds_many(d)
		assert(#l == 3 and l[2][1] == "" and l[3][1] == "y" and l.eof, #l)
		l = sock.recvfds_many(d)
		assert(#l == 0 and l.eof)
		-- stream: the bytes of the messages, in order, then eof
		local e, f = sock.pair("stream")
		local r = fd.pipe()
		sock.sendfds_many(e, {{"ab", r}, "cd", {"", r}})
		e:close()
		local got, fds = "", 0
		repeat
			l = sock.recvfds_many(f)
			for _, msg in ipairs(l) do got = got .. msg[1]; fds = fds + #msg - 1 end
		until l.eof
		assert(got == "abcd\0" and fds == 2, string.format("%q %d", got, fds))
		-- count = 1 is recvfds in list form
		local g, h = sock.pair("seqpacket")
		sock.sendfds_many(g, {"p", "q"})
		assert(#sock.recvfds_many(h, {count = 1}) == 1)
	`)
}

// A long stream payload the socket cannot take at once is finished with
// plain writes before the next message starts: the stream is never torn.
func TestSendfdsManyStreamLong(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("stream")
		local r = fd.pipe()
		local big = string.rep("0123456789", 100000)
		local reader = task.spawn(function()
			local got, fds = {}, 0
			local n = 0
			while n < 2 * #big + 3 do
				for _, msg in ipairs(sock.recvfds_many(b, {size = 65536})) do
					got[#got + 1] = msg[1]; n = n + #msg[1]; fds = fds + #msg - 1
				end
			end
			return table.concat(got), fds
		end)
		assert(sock.sendfds_many(a, {{big, r}, {"abc", r}, {data = big, fds = {r}}}) == 3)
		local got, fds = reader:wait()
		assert(got == big .. "abc" .. big, "stream torn: " .. #got)
		assert(fds == 3, fds)
	`)
}

// Bad input is refused before anything is sent, naming the message and
// entry: nothing reaches the peer.
func TestSendfdsManyBadInput(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local closed = fd.pipe(); closed:close()
		local cb = fd.pipe(); local ca, cc = sock.pair("seqpacket")
		sock.sendfds(ca, {cb, cb}, "x"); cb:close()
		local batch = sock.recvfds(cc, {batch = true}); batch:get(2):close()
		local many = {"m"}
		for i = 1, 254 do many[i + 1] = r end
		local function refused(want, ...)
			local ok, e = pcall(sock.sendfds_many, ...)
			assert(not ok, "accepted: " .. want)
			assert(tostring(e):find(want, 1, true), "want " .. want .. ", got " .. tostring(e))
			return e
		end
		local e = refused("bad argument #1 (s): the handle is closed", closed, {"x"})
		assert(e.name == "EBADF")
		refused("expected an Fd handle, got number", 5, {"x"})
		refused("expected a list of messages", a, "x")
		refused("key \"n\" is not a position", a, {"x", n = 1})
		e = refused("msgs[2][2] is a closed handle", a, {{"ok", r}, {"x", closed}})
		assert(e.name == "EBADF" and e.argname == "msgs")
		refused("msgs[1].fds[1] is a closed handle", a, {{data = "x", fds = {closed}}})
		refused("msgs[1].fds[2] (a batch entry) is a closed handle", a, {{data = "x", fds = batch}})
		refused("msgs[1][2] is a number, not an Fd handle (borrow raw numbers with fd.from(n))", a, {{"x", 3}})
		refused("msgs[1][1] (the data) is a Fd, not a string", a, {{r}})
		refused("msgs[1].data is a number, not a string", a, {{data = 1}})
		refused("msgs[1] has unknown key \"dta\" (did you mean \"data\"?)", a, {{dta = "x"}})
		refused("msgs[1] has unknown key \"fsd\" (did you mean \"fds\"?)", a, {{data = "x", fsd = {r}}})
		refused("msgs[1] has key \"fds\"", a, {{"x", r, fds = {w}}})
		refused("msgs[1].fds is a string", a, {{data = "x", fds = "r"}})
		refused("msgs[3] is a number", a, {"x", "y", 3})
		e = refused("msgs[2] has 254 fds: the kernel accepts at most 253 per message (SCM_MAX_FD)", a, {"fine", many})
		assert(e.name == "EINVAL")
		refused("unknown option \"timout\" (did you mean \"timeout\"?)", a, {"x"}, {timout = 1})
		refused("opts.timeout: -1 is negative", a, {"x"}, {timeout = -1})
		-- only AF_UNIX carries descriptors: refused before any message goes
		local l = sock.listen_on("tcp:127.0.0.1:0")
		local c = sock.connect(l:info().addr)
		local s = sock.accept(l)
		e = refused("cannot carry descriptors", c, {"plain", {"x", r}})
		assert(e.errno == 95 and e.argname == "s")
		local ok, e2 = pcall(s.read, s, 10, {timeout = 0})
		assert(not ok and e2.name == "ETIMEDOUT", "the peer received " .. tostring(e2))
		assert(sock.sendfds_many(c, {"plain", {data = "also"}}) == 2, "no descriptors: TCP is fine")
		-- nothing of the refused lists reached the unix peer
		ok, e2 = pcall(sock.recvfds_many, b, {timeout = 0})
		assert(not ok and e2.name == "ETIMEDOUT", "something was sent: " .. tostring(e2))
		fd.close(batch)
	`)
}

func TestRecvfdsManyBadInput(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local closed = fd.pipe(); closed:close()
		local function refused(want, ...)
			local ok, e = pcall(sock.recvfds_many, ...)
			assert(not ok, "accepted: " .. want)
			assert(tostring(e):find(want, 1, true), "want " .. want .. ", got " .. tostring(e))
			return e
		end
		refused("the handle is closed", closed)
		refused("expected an Fd handle, got string", "x")
		refused("expected an option table", b, 5)
		refused("unknown option \"cuont\" (did you mean \"count\"?)", b, {cuont = 2})
		refused("unknown option \"bacth\" (did you mean \"batch\"?)", b, {bacth = true})
		refused("opts.count: 0 is out of range: a message count goes from 1 to 1024", b, {count = 0})
		refused("opts.count: 1025 is out of range", b, {count = 1025})
		refused("opts.count: 2.5 is not an integer", b, {count = 2.5})
		refused("opts.max: 254 is out of range: a descriptor count goes from 0 to 253 (SCM_MAX_FD)", b, {max = 254})
		refused("opts.max: -1 is out of range", b, {max = -1})
		refused("opts.size: 0 is out of range", b, {size = 0})
		refused("opts.size: 1024 messages of 1048576 bytes need 1073741824 bytes of buffer", b, {count = 1024, size = 1048576})
		refused("opts.batch: expected a boolean, got number", b, {batch = 1})
		refused("opts.timeout: nan is not a number of seconds", b, {timeout = 0/0})
		-- timeout = 0 does not wait; a timeout ends a wait with ETIMEDOUT
		local e = refused("ETIMEDOUT", b, {timeout = 0})
		assert(e.op == "recvfds_many", e.op)
		e = refused("ETIMEDOUT", b, {timeout = 0.02})
		-- a wait ends with EBADF when the socket is closed under it
		local waiter = task.spawn(function() return pcall(sock.recvfds_many, b) end)
		task.sleep(0.01)
		b:close()
		local ok, e3 = waiter:wait()
		assert(not ok and e3.name == "EBADF", tostring(e3))
	`)
}

// Descriptors that do not fit (MSG_CTRUNC) are reported for the message
// they belonged to exactly as recvfds reports them, and the messages
// received with it are not lost: the error carries them all (with their
// descriptors owned, as on success), and index names the first bad one.
func TestRecvfdsManyCtrunc(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		sock.sendfds_many(a, {{"fits", r}, {"three", r, w, r}, {"also fits", w}, {"two", r, w}})
		local before = #fd.list()
		local ok, e = pcall(sock.recvfds_many, b, {max = 1})
		assert(not ok, "no error")
		assert(e.name == "MSG_CTRUNC" and e.op == "recvfds_many" and e.errno == 0, tostring(e))
		assert(e.index == 2 and e.data == "three" and e.arrived == 1, e.index .. " " .. tostring(e.data) .. " " .. tostring(e.arrived))
		assert(tostring(e):find("receive with a larger max"), tostring(e))
		local ms = e.messages
		assert(#ms == 4, #ms)
		assert(ms[1][1] == "fits" and #ms[1] == 2 and not ms[1].error)
		assert(ms[2][1] == "three" and #ms[2] == 1 and ms[2].error.name == "MSG_CTRUNC")
		assert(ms[3][1] == "also fits" and #ms[3] == 2)
		assert(ms[4][1] == "two" and #ms[4] == 1 and ms[4].error.data == "two")
		-- exactly the two whole messages' descriptors were handed over
		assert(#fd.list() == before + 2, #fd.list() - before)
		assert(#e.fds == 2 and e.fds[1] == ms[1][2] and e.fds[2] == ms[3][2], "e.fds: the whole messages' descriptors")
		assert(ms[1][2]:info().inode == r:info().inode and ms[3][2]:info().inode == w:info().inode)
		-- max = 0: no room at all, the kernel closes every descriptor
		sock.sendfds_many(a, {{"x", r}, "plain"})
		ok, e = pcall(sock.recvfds_many, b, {max = 0})
		assert(not ok and e.index == 1 and e.messages[2][1] == "plain" and tostring(e):find("no room for any"), tostring(e))
		-- left open on purpose: the runtime closes ms[1][2], ms[3][2] at exit
	`)
}

// Whatever ends a send early says how many messages the peer has whole:
// a timeout on a full socket, the peer gone, a cancel. Nothing is lost or
// sent twice: the receiver gets exactly the first sent messages.
func TestSendfdsManyPartial(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local r = fd.pipe()
		local msgs = {}
		for i = 1, 20000 do msgs[i] = {tostring(i), r} end
		local ok, e = pcall(sock.sendfds_many, a, msgs, {timeout = 0.05})
		assert(not ok and e.name == "ETIMEDOUT" and e.op == "sendfds_many", tostring(e))
		assert(type(e.sent) == "number" and e.sent > 0 and e.sent < 20000, tostring(e.sent))
		assert(tostring(e):find("after " .. e.sent .. " of 20000 messages were delivered", 1, true), tostring(e))
		local n = 0
		while true do
			local ok, l = pcall(sock.recvfds_many, b, {count = 1024, timeout = 0})
			if not ok then assert(l.name == "ETIMEDOUT", tostring(l)); break end
			for _, m in ipairs(l) do
				n = n + 1
				assert(m[1] == tostring(n) and #m == 2, "message " .. n .. " is " .. m[1])
				m[2]:close()
			end
		end
		assert(n == e.sent, n .. " received, " .. e.sent .. " reported sent")
		-- timeout = 0 on a socket with room sends at once
		assert(sock.sendfds_many(a, {"x"}, {timeout = 0}) == 1)
		assert(sock.recvfds_many(b)[1][1] == "x")
		-- a cancel while parked says the same
		local sender = task.spawn(function() return pcall(sock.sendfds_many, a, msgs) end)
		task.sleep(0.02)
		sender:cancel()
		local ok2, e2 = sender:wait()
		assert(not ok2 and e2.sent > 0 and e2.op == "sendfds_many", tostring(e2))
		-- the peer gone (with messages unread: ECONNRESET, else EPIPE), and
		-- sent counts what went before
		b:close()
		ok, e = pcall(sock.sendfds_many, a, {"x", {"y", r}})
		assert(not ok and (e.name == "ECONNRESET" or e.name == "EPIPE") and e.sent == 0, tostring(e))
		local c, d = sock.pair("seqpacket")
		d:close()
		ok, e = pcall(sock.sendfds_many, c, {"x"})
		assert(not ok and e.name == "EPIPE" and e.sent == 0, tostring(e))
	`)
}

// A task parked in either call and cancelled, and a script failing with
// received handles open, leave nothing behind (the leak check).
func TestSendRecvfdsManyCancelAndError(t *testing.T) {
	mustFail(t, `
		local a, b = sock.pair("seqpacket")
		local r, w = fd.pipe()
		local waiter = task.spawn(function() return sock.recvfds_many(b, {batch = true}) end)
		local holder = task.spawn(function()
			task.sleep(0.01)
			local l = sock.recvfds_many(b)
			task.sleep(60)
		end)
		task.sleep(0.005)
		waiter:cancel()
		sock.sendfds_many(a, {{"x", r, w}, {"y", r}})
		task.sleep(0.03)
		holder:cancel()
		sock.sendfds_many(a, {{"late", r, w}}) -- queued, never received
		error("boom")
	`, "boom")
}

// An untouched batch passed on whole goes as numbers (no handle made),
// arrives whole, and stays owned and closable; a closed entry is refused
// before anything is sent, and one closed while the send waits is refused
// at the try, never sent as whatever that number became.
func TestFdBatchSentWholeAndClosedEntry(t *testing.T) {
	mustRun(t, `
		local a, b = sock.pair("seqpacket")
		local c, d = sock.pair("seqpacket")
		local r, w = fd.pipe()
		sock.sendfds(a, {r, w, r}, "x")
		local bt = sock.recvfds(b, {batch = true})
		assert(sock.sendfds(c, bt, "fwd") == 3)
		local got, data = sock.recvfds(d)
		assert(data == "fwd" and #got == 3 and got[2]:info().inode == w:info().inode)
		assert(tostring(bt):match("^<fdbatch 3: %d+ %d+ %d+>$"), tostring(bt))
		bt[2]:close()
		local ok, e = pcall(sock.sendfds, c, bt, "again")
		assert(not ok and e.name == "EBADF" and tostring(e):find("fds[2] (a batch entry) is a closed handle", 1, true), tostring(e))
		ok, e = pcall(sock.recvfds, d, {timeout = 0})
		assert(not ok and e.name == "ETIMEDOUT", "something was sent")
		assert(fd.close(bt) == 3 and bt[1]:closed() and bt[3]:closed())
		assert(tostring(bt) == "<fdbatch 3: closed closed closed>", tostring(bt))
		fd.close(got)
	`)
}

// The 253-descriptor receive path makes no handle per descriptor: a batch
// received, passed on whole and closed whole never had one made, while
// the kernel's descriptors are all closed (the leak check).
func TestFdBatchCloseAndSendMakeNoHandle(t *testing.T) {
	leakcheck.Check(t)
	rt, err := newTestRuntime(Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	res := rt.RunString(`
		local a, b = sock.pair("seqpacket")
		local c, d = sock.pair("seqpacket")
		local r = fd.pipe()
		local many = {}
		for i = 1, 253 do many[i] = r end
		sock.sendfds(a, many, "x")
		B = sock.recvfds(b, {batch = true})
		assert(#B == 253)
		sock.sendfds(c, B, "fwd")
		fd.close(B)
		assert(B[1]:closed())
		fd.close((sock.recvfds(d, {batch = true})))
		fd.close(a, b, c, d, r)
	`, "=t")
	if res.Err != nil {
		t.Fatal(rt.ErrorReport(res.Err))
	}
	ud, ok := rt.L.GetGlobal("B").(*lua.LUserData)
	if !ok {
		t.Fatal("no batch")
	}
	// B[1] was touched after the close, and only it: one closed handle.
	if made := ud.Value.(*fdBatch).b.Made(); made != 1 {
		t.Fatalf("%d handles made, want the 1 touched after closing", made)
	}
}
