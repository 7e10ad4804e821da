-- fdwire send: hand descriptors of this process (or of process PID) to a
-- waiting `fdwire recv` over a unix socket.
--
-- Wire protocol (shared with recv.lua): the sender connects (stream) and
-- sends one message "fdwire-send/1 N" carrying N descriptors; the
-- receiver answers one line: "ok", "refused: WHY" or "error: WHY".
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"

local M = {}

M.spec = {
	name = "send",
	usage = "fdwire send [-f FD]... [--pid PID [--dup]] [--abstract] [--blocking] [--timeout SECS] SOCKSPEC",
	about = "Sends descriptors to the `fdwire recv` listening on SOCKSPEC. A bare NAME is a socket in\n" ..
		"the per-user runtime directory ($XDG_RUNTIME_DIR/fdwire, else /run/user/UID/fdwire, else\n" ..
		"/tmp/fdwire-UID); @NAME is an abstract socket; anything with a / is a socket path.",
	options = {
		{ "f", "fd", arg = "FD", list = true, int = true, min = 0,
			help = "send descriptor FD; repeatable, in order (default 0)" },
		{ "p", "pid", arg = "PID", int = true, min = 1,
			help = "take the descriptors from process PID instead of this one" },
		{ "d", "dup", help = "with --pid: pidfd_getfd, sharing PID's open file description; default:\n" ..
			"                       reopen /proc/PID/fd/FD, a new description (sockets need --dup)" },
		{ "a", "abstract", help = "a bare NAME is the abstract socket @NAME" },
		{ "b", "blocking", help = "wait for the receiver to appear (inotify for a path, backoff for @NAME)" },
		{ "t", "timeout", arg = "SECS", number = true, min = 0, default = 10,
			help = "give up after SECS; 0 waits forever" },
	},
	positional = { 1, 1, names = "SOCKSPEC" },
	exits = {
		{ 0, "the receiver took the descriptors" },
		{ 1, "error (a descriptor is not open, protocol error, ...)" },
		{ 2, "bad command line" },
		{ 3, "no receiver at SOCKSPEC (or none within the timeout)" },
		{ 4, "the receiver refused this sender (its uid is not allowed)" },
	},
}

-- M.collect returns handles for the descriptor numbers: this process's own
-- (borrowed), or copies taken from process pid.
function M.collect(nums, pid, dup)
	local hs, owned = {}, {}
	for i, n in ipairs(nums) do
		if pid then
			if not proc.getfd then
				common.fail("send --pid", "ENOSYS", "proc.getfd is not available in this build")
			end
			hs[i] = proc.getfd(pid, n, { mode = dup and "dup" or "reopen" })
			owned[#owned + 1] = hs[i]
		else
			local ok, h = pcall(fd.from, n)
			if not ok then
				common.fail("send", "EBADF", "descriptor " .. n .. " is not open in this process")
			end
			hs[i] = h
		end
	end
	return hs, owned
end

local function read_line(c)
	local buf = ""
	while not buf:find("\n", 1, true) do
		local s = c:read(512)
		if not s then break end
		buf = buf .. s
	end
	return (buf:match("^([^\n]*)"))
end

-- M.send sends the handles to the resolved target and returns the
-- receiver's answer line.
function M.send(target, handles, blocking)
	local c = common.connect(target, "stream", blocking)
	local ok, reply = pcall(function()
		local sent, err = pcall(sock.sendfds, c, handles, "fdwire-send/1 " .. #handles)
		if not sent then
			-- A receiver that refuses us answers and hangs up at once, maybe
			-- before our message arrives: its answer is still readable.
			if type(err) == "table" and (err.name == "EPIPE" or err.name == "ECONNRESET") then
				local rok, line = pcall(read_line, c)
				if rok and line and line ~= "" then return line end
			end
			error(err, 0)
		end
		return read_line(c)
	end)
	c:close()
	if not ok then error(reply, 0) end
	return reply
end

function M.main(argv)
	local o, pos = args.parse(M.spec, argv)
	if not o then return pos end
	if o.dup and not o.pid then return args.usage_error(M.spec, "--dup needs --pid") end
	local nums = #o.fd > 0 and o.fd or { 0 }
	local owned = {}
	local status = common.guard("send", function()
		local target = common.resolve(pos[1], o.abstract)
		local handles
		handles, owned = M.collect(nums, o.pid, o.dup)
		local ok, reply = pcall(common.within, o.timeout, M.send, target, handles, o.blocking)
		if not ok then
			local e = reply
			if type(e) == "table" and (e.name == "ENOENT" or e.name == "ECONNREFUSED") then
				common.fail("send", e.name, "no receiver at " .. target.display ..
					(o.blocking and "" or " (--blocking waits for one)"), common.NO_PEER)
			elseif type(e) == "table" and e.name == "ETIMEDOUT" then
				common.fail("send", "ETIMEDOUT", "no receiver at " .. target.display .. " within " .. o.timeout .. " s",
					common.NO_PEER)
			end
			error(e, 0)
		end
		if reply == "ok" then return 0 end
		if reply and reply:match("^refused") then
			common.fail("send", "EPERM", "the receiver at " .. target.display .. " " .. reply, common.REFUSED)
		end
		common.fail("send", "EPROTO", "the receiver at " .. target.display .. " answered " ..
			string.format("%q", reply or "nothing"))
	end)
	for _, h in ipairs(owned) do h:close() end
	return status
end

return M
