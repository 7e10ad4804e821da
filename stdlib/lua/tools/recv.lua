-- fdwire recv: listen on one or more sockets, receive descriptors from
-- `fdwire send`, place each at its requested number and run COMMAND.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"

local M = {}

M.spec = {
	name = "recv",
	usage = "fdwire recv (-f N[,N...] SOCKSPEC | --stdin SOCKSPEC | --stdout SOCKSPEC | --stderr SOCKSPEC)...\n" ..
		"                   [--abstract] [--allow-uid UID]... [--timeout SECS] [--run|--] COMMAND [ARGS...]",
	about = "Listens on each SOCKSPEC, receives descriptors from `fdwire send`, places them at the\n" ..
		"requested numbers and runs COMMAND by exec (--run or -- may come before it); COMMAND's\n" ..
		"exit status is fdwire's. -f 0,1,2 S (or several -f with the same S) takes that sender's\n" ..
		"descriptors in order. A bare NAME is a 0600 socket in the per-user 0700 runtime directory\n" ..
		"($XDG_RUNTIME_DIR/fdwire, else /run/user/UID/fdwire, else /tmp/fdwire-UID); @NAME is\n" ..
		"abstract; a path is used as given. Senders are checked with SO_PEERCRED: the same uid or\n" ..
		"root, plus --allow-uid; a refused sender is told so, logged, and recv keeps waiting.",
	options = {
		{ long = "fd", short = "f", arg = { "N", "SOCKSPEC" }, type = "int", min = 0, list = true, comma = true,
			help = "receive descriptor number N (or a comma list, in order) from the sender on SOCKSPEC" },
		{ long = "stdin", short = "i", arg = "SOCKSPEC", key = "fd", list = true, fixed = 0, help = "same as -f 0 SOCKSPEC" },
		{ long = "stdout", short = "o", arg = "SOCKSPEC", key = "fd", list = true, fixed = 1, help = "same as -f 1 SOCKSPEC" },
		{ long = "stderr", short = "e", arg = "SOCKSPEC", key = "fd", list = true, fixed = 2, help = "same as -f 2 SOCKSPEC" },
		{ long = "abstract", short = "a", help = "a bare NAME is the abstract socket @NAME" },
		{ long = "allow-uid", short = "u", arg = "UID", type = "int", min = 0, max = 4294967294, list = true, comma = true,
			help = "also accept senders of uid UID; repeatable" },
		{ long = "timeout", short = "t", arg = "SECS", type = "duration", default = 300,
			help = "give up when not every sender came within SECS (inf: never)" },
	},
	terminators = { "--", "--run" },
	positional = { min = 0, max = 0, names = "" },
	command = "required",
	exits = args.with_signals({
		{ "N", "COMMAND's exit status (128+SIGNAL when a signal ended it)" },
		{ 2, "bad command line" },
		{ 124, "not every sender came within the timeout" },
		{ 125, "fdwire failed before COMMAND could run (socket in use, bad directory, ...)" },
		{ 126, "COMMAND could not be run" },
		{ 127, "COMMAND was not found" },
	}, " before COMMAND ran"),
}

-- M.allowed reports whether a peer's uid may send.
function M.allowed(uid, allow)
	local me = proc.self().uid
	if uid == me or uid == 0 then return true end
	for _, u in ipairs(allow or {}) do
		if u == uid then return true end
	end
	return false
end

local function allowed_list(allow)
	local t = { tostring(proc.self().uid), "0" }
	for _, u in ipairs(allow or {}) do t[#t + 1] = tostring(u) end
	return table.concat(t, ", ")
end

-- M.serve accepts on listener l until one allowed sender delivered want
-- descriptors; it returns them. Refused and malformed senders are told
-- why, logged, and the wait goes on.
function M.serve(l, target, want, allow)
	while true do
		local okc, c = pcall(sock.accept, l)
		if not okc then return nil, c end -- cancelled or the listener failed
		local got
		local ok, e = pcall(function()
			local p = sock.peer(c)
			if p.pidfd then p.pidfd:close() end
			if not M.allowed(p.uid, allow) then
				common.log("recv", "refused sender pid %d uid %d on %s (allowed uids: %s; widen with --allow-uid)",
					p.pid, p.uid, target.display, allowed_list(allow))
				c:write("refused: uid " .. p.uid .. " is not allowed\n")
				return
			end
			local fds, data = sock.recvfds(c, { max = 253, timeout = 10 })
			if not data and #fds == 0 then
				-- Connected and left without a word: another recv checking
				-- whether this socket is live, or a sender that gave up.
				return
			end
			local n = data and tonumber(data:match("^fdwire%-send/1 (%d+)$"))
			if not n or n ~= #fds then
				for _, h in ipairs(fds) do h:close() end
				common.log("recv", "ignored a malformed message from pid %d on %s", p.pid, target.display)
				c:write("error: malformed message\n")
				return
			end
			if #fds ~= want then
				for _, h in ipairs(fds) do h:close() end
				common.log("recv", "pid %d sent %d descriptors on %s, %d expected", p.pid, #fds, target.display, want)
				c:write("error: expected " .. want .. " descriptors, got " .. #fds .. "\n")
				return
			end
			c:write("ok\n")
			got = fds
		end)
		c:close()
		if not ok then common.log("recv", "sender on %s: %s", target.display, tostring(e)) end
		if got then return got end
	end
end

function M.main(argv)
	local o, _, command = args.parse(M.spec, argv)
	if not o then return _ end
	if #o.fd == 0 then return args.usage_error(M.spec, "nothing to receive: give -f N SOCKSPEC (or --stdin ...)") end
	-- Group the requested numbers by socket, in order.
	local groups, order, seen = {}, {}, {}
	for _, pair in ipairs(o.fd) do
		local n, spec = pair[1], pair[2]
		if seen[n] then return args.usage_error(M.spec, "descriptor " .. n .. " is requested twice") end
		seen[n] = true
		if not groups[spec] then groups[spec] = {}; order[#order + 1] = spec end
		table.insert(groups[spec], n)
	end
	local placed = {}
	local listeners = {}
	local status = common.guard("recv", function()
		local targets = {}
		for i, spec in ipairs(order) do
			targets[i] = common.resolve(spec, o.abstract)
			listeners[i] = common.listen(targets[i])
		end
		local tasks = {}
		for i, spec in ipairs(order) do
			tasks[i] = task.spawn(M.serve, listeners[i], targets[i], #groups[spec], o.allow_uid)
		end
		local ok, e = pcall(common.within, o.timeout, function()
			for i, spec in ipairs(order) do
				local fds, err = tasks[i]:wait()
				if not fds then error(err, 0) end
				for j, n in ipairs(groups[spec]) do placed[n] = fds[j] end
			end
		end)
		for _, t in ipairs(tasks) do t:cancel() end
		if not ok then
			if type(e) == "table" and e.name == "ETIMEDOUT" then
				local missing = {}
				for i, t in ipairs(tasks) do
					if not t:done() then missing[#missing + 1] = targets[i].display end
				end
				common.fail("recv", "ETIMEDOUT", "no sender within " .. o.timeout .. " s on " ..
					table.concat(missing, ", "), common.TIMEOUT)
			end
			error(e, 0)
		end
	end, common.CANNOT_RUN)
	-- The sockets go (and their files with them) before COMMAND runs.
	for _, l in ipairs(listeners) do l:close() end
	if status ~= 0 then
		for _, h in pairs(placed) do h:close() end
		return status
	end
	return common.run_command("recv", command, placed)
end

return M
