-- fdwire.holder: the client side of `fdwire hold`, an fd holder daemon in
-- the spirit of s6-fdholder.
--
-- Wire protocol, over a unix seqpacket socket (one request, one answer):
--   request  "store\0ID\0SECS[\0replace]" + 1 fd   (SECS "" = no expiry)
--            "retrieve\0ID" | "delete\0ID" | "list" | "dump"
--   answer   "ok" (+ 1 fd for retrieve), or "err\0ERRNAME\0message"
--   list     answers "ids\0ID\0ID..." messages (each under 4 KiB), then "ok\0COUNT"
--   dump     answers "entry\0ID\0SECS" + 1 fd per descriptor, then "ok\0COUNT"
-- Identifiers are 1 to 255 bytes without NUL. Before sending anything the
-- client checks who serves the socket (SO_PEERCRED): this uid or root, or
-- a uid in opts.allow_server_uid.
local common = require "fdwire.tools.common"

local M = {}

-- M.MAX_ID is the longest identifier in bytes.
M.MAX_ID = 255

-- statuses a tool returns for the holder's errors
local STATUS = { ENOENT = common.UNKNOWN, EKEYEXPIRED = common.EXPIRED, EACCES = common.REFUSED,
	EPERM = common.REFUSED }

-- M._check_id raises unless id is a valid identifier (internal: the
-- documented surface is what luabind/helpers reads, keys without "_").
function M._check_id(op, id)
	if type(id) ~= "string" or #id < 1 or #id > M.MAX_ID or id:find("\0", 1, true) then
		common.fail("holder." .. op, "EINVAL",
			"an identifier is 1 to " .. M.MAX_ID .. " bytes without NUL, got " ..
			(type(id) == "string" and (#id .. " bytes") or type(id)))
	end
end

local function split(s)
	local t = {}
	for part in (s .. "\0"):gmatch("([^%z]*)%z") do t[#t + 1] = part end
	return t
end
M._split = split -- for tools/hold.lua, not part of the documented surface

local function target_of(addr, opts)
	if type(addr) == "table" and addr.addr then return addr end
	return common.resolve(addr, opts and opts.abstract)
end

local function connect(addr, opts)
	local t = target_of(addr, opts)
	local ok, c = pcall(common.connect, t, "seqpacket", opts and opts.wait)
	if not ok then
		local e = c
		if type(e) == "table" and (e.name == "ENOENT" or e.name == "ECONNREFUSED") then
			common.fail("holder", e.name, "no holder at " .. t.display, common.NO_PEER)
		end
		error(e, 0)
	end
	common.check_server(c, t, opts and opts.allow_server_uid)
	return c, t
end

-- recv1 reads one answer message; one cut short (MSG_TRUNC/MSG_CTRUNC)
-- is an error, never a shorter answer.
local function recv1(op, c, t, max)
	local ok, fds, data, extra = pcall(sock.recvfds, c, { max = max or 1 })
	if not ok then
		if type(fds) == "table" and fds.name == "ECONNRESET" then
			common.fail("holder." .. op, "ECONNRESET", "the holder at " .. t.display ..
				" hung up without answering (it refuses clients no rule allows anything, and clients" ..
				" beyond --max-conn or --max-conn-per-uid)", common.REFUSED)
		end
		error(fds, 0)
	end
	if not data then
		for _, h in ipairs(fds) do h:close() end
		common.fail("holder." .. op, "EPROTO", "the holder at " .. t.display .. " closed the connection")
	end
	if extra and extra.truncated then
		for _, h in ipairs(fds) do h:close() end
		common.fail("holder." .. op, "EMSGSIZE", "an answer from the holder at " .. t.display .. " was cut short")
	end
	return fds, data
end

-- answer reads one reply; an "err" reply raises with the holder's errno
-- name and message.
local function answer(op, c, t)
	local fds, data = recv1(op, c, t)
	local f = split(data)
	if f[1] == "err" then
		for _, h in ipairs(fds) do h:close() end
		common.fail("holder." .. op .. " " .. t.display, f[2] or "EPROTO", f[3] or "", STATUS[f[2]])
	end
	return f, fds
end

-- request sends fields (and fds) and returns the answer; the whole
-- exchange is bounded by opts.timeout (default 10 s).
local function request(op, addr, opts, fields, fds, more)
	opts = opts or {}
	local secs = opts.timeout or 10
	return common.within(secs, function()
		local c, t = connect(addr, opts)
		local res = { pcall(function()
			local sent, e = pcall(sock.sendfds, c, fds or {}, table.concat(fields, "\0"))
			if not sent then
				-- A holder that refuses us answers and hangs up at once, maybe
				-- before the request arrives: its answer is still readable.
				if type(e) == "table" and (e.name == "EPIPE" or e.name == "ECONNRESET") then
					local okA, eA = pcall(answer, op, c, t)
					if not okA and type(eA) == "table" and eA.name ~= "EPROTO" then error(eA, 0) end
				end
				error(e, 0)
			end
			if more then return more(c, t) end
			return answer(op, c, t)
		end) }
		c:close()
		if not res[1] then error(res[2], 0) end
		return res[2], res[3]
	end)
end

-- M.store(addr, id, handle, {expire=SECS, replace=, timeout=, abstract=});
-- an id already held is EBUSY unless replace is set.
function M.store(addr, id, h, opts)
	M._check_id("store", id)
	opts = opts or {}
	local exp = opts.expire and string.format("%.17g", opts.expire) or ""
	local fields = { "store", id, exp }
	if opts.replace then fields[4] = "replace" end
	request("store", addr, opts, fields, { h })
end

-- M.retrieve(addr, id, opts) -> a handle on the held descriptor (a copy:
-- the holder keeps its own until deleted or expired).
function M.retrieve(addr, id, opts)
	M._check_id("retrieve", id)
	local _, fds = request("retrieve", addr, opts, { "retrieve", id })
	if #fds ~= 1 then
		for _, h in ipairs(fds) do h:close() end
		common.fail("holder.retrieve", "EPROTO", "the holder sent " .. #fds .. " descriptors, 1 expected")
	end
	return fds[1]
end

-- M.delete(addr, id, opts) closes the holder's copy.
function M.delete(addr, id, opts)
	M._check_id("delete", id)
	request("delete", addr, opts, { "delete", id })
end

-- M.list(addr, opts) -> the identifiers this client may see, sorted.
-- The answer is as many "ids" messages as it takes and a final count,
-- checked: a list is whole or an error.
function M.list(addr, opts)
	return request("list", addr, opts, { "list" }, nil, function(c, t)
		local ids = {}
		while true do
			local fds, data = recv1("list", c, t, 0)
			for _, h in ipairs(fds) do h:close() end
			local f = split(data)
			if f[1] == "ids" then
				for i = 2, #f do ids[#ids + 1] = f[i] end
			elseif f[1] == "ok" then
				if tonumber(f[2]) ~= #ids then
					common.fail("holder.list", "EPROTO", string.format(
						"the holder at %s announced %s identifiers and sent %d", t.display, tostring(f[2]), #ids))
				end
				return ids
			elseif f[1] == "err" then
				common.fail("holder.list " .. t.display, f[2] or "EPROTO", f[3] or "", STATUS[f[2]])
			else
				common.fail("holder.list", "EPROTO", "unexpected answer " .. string.format("%q", data:sub(1, 40)))
			end
		end
	end)
end

-- M.dump(addr, opts) -> { {id=, fd=, expire=SECS or nil}, ... }: the
-- whole state this client may dump, each descriptor a fresh handle.
function M.dump(addr, opts)
	local res = request("dump", addr, opts, { "dump" }, nil, function(c, t)
		local out = {}
		while true do
			local okr, fds, data = pcall(recv1, "dump", c, t)
			if not okr then
				for _, e in ipairs(out) do e.fd:close() end
				error(fds, 0)
			end
			local f = split(data)
			if f[1] == "entry" and #fds == 1 then
				out[#out + 1] = { id = f[2], fd = fds[1], expire = tonumber(f[3]) }
			else
				for _, h in ipairs(fds) do h:close() end
				if f[1] == "ok" then
					if tonumber(f[2]) ~= #out then
						for _, e in ipairs(out) do e.fd:close() end
						common.fail("holder.dump", "EPROTO", string.format(
							"the holder at %s announced %s entries and sent %d", t.display, tostring(f[2]), #out))
					end
					return out
				end
				for _, e in ipairs(out) do e.fd:close() end
				if f[1] == "err" then
					common.fail("holder.dump " .. t.display, f[2] or "EPROTO", f[3] or "", STATUS[f[2]])
				end
				common.fail("holder.dump", "EPROTO", "unexpected answer " .. string.format("%q", data))
			end
		end
	end)
	return res
end

-- M.restore(addr, entries, opts) stores every {id=, fd=, expire=} entry
-- (as dump returns them) and returns how many.
function M.restore(addr, entries, opts)
	opts = opts or {}
	for _, e in ipairs(entries) do
		M.store(addr, e.id, e.fd, { expire = e.expire, timeout = opts.timeout, abstract = opts.abstract,
			replace = opts.replace, allow_server_uid = opts.allow_server_uid })
	end
	return #entries
end

-- M.transfer(from, to, opts) copies the whole state of one holder into
-- another and returns how many descriptors moved; the copies this process
-- held in between are closed.
function M.transfer(from, to, opts)
	local entries = M.dump(from, opts)
	local ok, n = pcall(M.restore, to, entries, opts)
	for _, e in ipairs(entries) do e.fd:close() end
	if not ok then error(n, 0) end
	return n
end

return M
