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
	usage = "fdwire send [-f FD[,FD...]]... [--pid PID[:INODE] [--dup]] [--abstract] [--blocking]\n" ..
		"                   [--grace SECS] [--timeout SECS] [--allow-server-uid UID]... SOCKSPEC",
	about = "Sends descriptors to the `fdwire recv` listening on SOCKSPEC. A bare NAME is a socket in\n" ..
		"the per-user runtime directory ($XDG_RUNTIME_DIR/fdwire, else /run/user/UID/fdwire, else\n" ..
		"/tmp/fdwire-UID); @NAME is an abstract socket; anything with a / is a socket path.\n" ..
		"Before sending, send checks who listens (SO_PEERCRED): this uid or root, or a uid given\n" ..
		"with --allow-server-uid; anyone else gets nothing (exit 7).",
	options = {
		{ long = "fd", short = "f", arg = "FD", type = "int", min = 0, list = true, comma = true,
			help = "send descriptor FD; a comma list or repeated, in order (default 0)" },
		{ long = "pid", short = "p", arg = "PID[:INODE]",
			help = "take the descriptors from process PID instead of this one; with :INODE, only\n" ..
				"if PID's pidfd has that inode (the process, not a reused pid)" },
		{ long = "dup", short = "d", help = "with --pid: pidfd_getfd, sharing PID's open file description; default:\n" ..
			"reopen /proc/PID/fd/FD, a new description (sockets need --dup)" },
		{ long = "pidfd-getfd", key = "dup", help = "the same as --dup (the util-linux proposal's name)" },
		{ long = "abstract", short = "a", help = "a bare NAME is the abstract socket @NAME" },
		{ long = "blocking", short = "b", help = "wait (up to --timeout) for the receiver to appear (inotify for a\n" ..
			"path, backoff for @NAME)" },
		{ long = "grace", short = "g", arg = "SECS", type = "duration", default = 2,
			help = "without --blocking, still wait this long for a receiver that is starting" },
		{ long = "timeout", short = "t", arg = "SECS", type = "duration", default = 10,
			help = "give up after SECS (inf: never)" },
		{ long = "allow-server-uid", short = "U", arg = "UID", type = "int", min = 0, max = 4294967294,
			list = true, comma = true, help = "also send to a receiver run by UID; repeatable" },
	},
	positional = { min = 1, max = 1, names = "SOCKSPEC" },
	exits = args.with_signals {
		{ 0, "the receiver took the descriptors" },
		{ 1, "error (a descriptor is not open, protocol error, ...)" },
		{ 2, "bad command line" },
		{ 3, "no receiver at SOCKSPEC (or none within the timeout)" },
		{ 4, "the receiver refused this sender (its uid is not allowed)" },
		{ 7, "SOCKSPEC is served by another uid (not trusted): nothing was sent" },
	},
}

-- M.parse_pid reads PID or PID:INODE.
function M.parse_pid(s)
	local p, ino = s:match("^(%d+):(%d+)$")
	if not p then p = s:match("^%d+$") end
	p = p and args.parse_number(p)
	if not p or p < 1 or p > 4194304 then return nil end
	return p, ino and args.parse_number(ino)
end

-- M.check_inode makes sure pid is the process whose pidfd has inode
-- (pidfs, Linux 6.9+: the inode names one process for the boot).
function M.check_inode(pid, inode)
	if not proc.pidfd_open then
		common.fail("send --pid", "ENOSYS", "PID:INODE needs proc.pidfd_open, which this build lacks")
	end
	local pfd = proc.pidfd_open(pid)
	local got = fd.info(pfd).ino
	pfd:close()
	-- Without pidfs (before Linux 6.9) every pidfd shares one inode.
	local mine = proc.pidfd_open(proc.self().pid)
	local own = fd.info(mine).ino
	mine:close()
	if own == got and pid ~= proc.self().pid then
		common.fail("send --pid", "ENOSYS", "PID:INODE needs pidfs (Linux 6.9 or newer): this kernel gives every pidfd one inode")
	end
	if got ~= inode then
		common.fail("send --pid", "ESRCH", string.format("process %d has pidfd inode %s, not %s: not the process meant",
			pid, tostring(got), tostring(inode)))
	end
end

-- M.collect returns handles for the descriptor numbers: this process's own
-- (borrowed), or copies taken from process pid.
-- With inode, pid's pidfd inode is checked before and after: a pid
-- reused in between cannot pass both checks.
function M.collect(nums, pid, dup, inode)
	local hs, owned = {}, {}
	if inode then M.check_inode(pid, inode) end
	local ok, e = pcall(M.collect_from, nums, pid, dup, hs, owned)
	if ok and inode then ok, e = pcall(M.check_inode, pid, inode) end
	if not ok then
		for _, h in ipairs(owned) do h:close() end
		error(e, 0)
	end
	return hs, owned
end

function M.collect_from(nums, pid, dup, hs, owned)
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

-- M.send connects to the resolved target, waiting for the receiver up
-- to o.wait seconds (0: not at all, math.huge: forever), checks who
-- listens, sends the handles and returns the receiver's answer line; the
-- exchange after connecting is bounded by o.timeout (math.huge: no bound).
function M.send(target, handles, o)
	o = o or {}
	local wait = o.wait or 0
	local c
	if wait > 0 then
		c = common.within(wait, common.connect, target, "stream", true)
	else
		c = common.connect(target, "stream", false)
	end
	local ok, reply = pcall(function()
		common.check_server(c, target, o.trust)
		return common.within(o.timeout, function()
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
	end)
	c:close()
	if not ok then error(reply, 0) end
	return reply
end

function M.main(argv)
	local o, pos = args.parse(M.spec, argv)
	if not o then return pos end
	if o.dup and not o.pid then return args.usage_error(M.spec, "--dup needs --pid") end
	local pid, inode
	if o.pid then
		pid, inode = M.parse_pid(o.pid)
		if not pid then return args.usage_error(M.spec, "--pid takes PID or PID:INODE, got " .. string.format("%q", o.pid)) end
	end
	local nums = #o.fd > 0 and o.fd or { 0 }
	local owned = {}
	local status = common.guard("send", function()
		local target = common.resolve(pos[1], o.abstract)
		local handles
		handles, owned = M.collect(nums, pid, o.dup, inode)
		-- Without --blocking a receiver that is still starting (the
		-- one-line demo starts both at once) gets --grace seconds.
		local limit = o.blocking and o.timeout or math.min(o.grace, o.timeout)
		local ok, reply = pcall(M.send, target, handles, { wait = limit, timeout = o.timeout, trust = o.allow_server_uid })
		if not ok then
			local e = reply
			if type(e) == "table" and (e.name == "ENOENT" or e.name == "ECONNREFUSED") then
				common.fail("send", e.name, "no receiver at " .. target.display ..
					(o.blocking and "" or " (--blocking waits for one)"), common.NO_PEER)
			elseif type(e) == "table" and e.name == "ETIMEDOUT" then
				common.fail("send", "ETIMEDOUT", "no receiver at " .. target.display .. " within " .. string.format("%g", limit) .. " s" ..
					(o.blocking and "" or " (--blocking waits for one)"), common.NO_PEER)
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
