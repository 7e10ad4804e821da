-- fdwire hold: an fd holder daemon in the spirit of s6-fdholder. Clients
-- (fdwire hold-store/-retrieve/-list/-delete/-transfer, or require
-- "fdwire.holder") store, retrieve, delete, list and dump named
-- descriptors; access is deny-by-default, by uid/gid and identifier.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"
local holder = require "fdwire.holder"

local M = {}

M.spec = {
	name = "hold",
	usage = "fdwire hold [--rules FILE] [--abstract] [--socket-mode MODE] [--max N] SOCKSPEC",
	about = "Holds descriptors under names (1-255 bytes) for other processes, on a unix seqpacket\n" ..
		"socket at SOCKSPEC (bare NAME: in the per-user runtime directory; @NAME: abstract).\n" ..
		"Runs until SIGTERM or SIGINT; the socket file is removed when it ends.",
	options = {
		{ "r", "rules", arg = "FILE", help = "access rules (default: only this uid and root, for everything)" },
		{ "a", "abstract", help = "a bare NAME is the abstract socket @NAME" },
		{ "m", "socket-mode", arg = "MODE", default = "0600", help = "octal mode of a path socket" },
		{ "n", "max", arg = "N", int = true, min = 1, default = 1000, help = "hold at most N descriptors" },
	},
	positional = { 1, 1, names = "SOCKSPEC" },
	details = "rules file: one rule a line, the first that matches decides, no match denies:\n" ..
		"  allow|deny  WHO  OPS  PATTERN\n" ..
		"  WHO      uid:N, gid:N (the peer's primary gid), user:NAME, or * for anyone\n" ..
		"  OPS      comma-separated store,retrieve,delete,list,dump, or *\n" ..
		"  PATTERN  identifiers it covers: * any run of bytes, ? one byte (list and dump show\n" ..
		"           and give only the identifiers a rule allows)\n" ..
		"  # starts a comment. Example: allow uid:1000 store,retrieve app/*",
	exits = {
		{ 0, "never returns 0 on its own (it serves until a signal)" },
		{ 1, "error (bad rules file, socket in use, ...)" },
		{ 2, "bad command line" },
		{ 130, "ended by SIGINT (143: SIGTERM)" },
	},
}

-- glob turns a PATTERN into an anchored Lua pattern.
local function glob(p)
	local out = p:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".")
	return "^" .. out .. "$"
end

local OPS = { store = true, retrieve = true, delete = true, list = true, dump = true }

-- M.parse_rules reads rules text; errors name the line.
function M.parse_rules(text, name)
	local rules = {}
	local n = 0
	for line in (text .. "\n"):gmatch("([^\n]*)\n") do
		n = n + 1
		line = line:gsub("#.*$", ""):gsub("^%s+", ""):gsub("%s+$", "")
		if line ~= "" then
			local action, who, ops, pat = line:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)$")
			local function bad(why) common.fail("rules", "EINVAL", (name or "rules") .. ":" .. n .. ": " .. why) end
			if not action then bad("expected: allow|deny WHO OPS PATTERN") end
			if action ~= "allow" and action ~= "deny" then bad("action must be allow or deny, got " .. action) end
			local r = { allow = action == "allow", pattern = glob(pat), ops = {} }
			if who == "*" then
				r.any = true
			else
				local kind, v = who:match("^(%a+):(.+)$")
				if kind == "uid" or kind == "gid" then
					r[kind] = tonumber(v)
					if not r[kind] then bad(who .. ": not a number") end
				elseif kind == "user" then
					r.uid = user.lookup(v).uid
				else
					bad("WHO must be uid:N, gid:N, user:NAME or *, got " .. who)
				end
			end
			for op in ops:gmatch("[^,]+") do
				if op == "*" then
					for k in pairs(OPS) do r.ops[k] = true end
				elseif OPS[op] then
					r.ops[op] = true
				else
					bad("unknown operation " .. op)
				end
			end
			rules[#rules + 1] = r
		end
	end
	return rules
end

-- M.default_rules: this uid and root may do everything.
function M.default_rules()
	local me = proc.self().uid
	return M.parse_rules("allow uid:" .. me .. " * *\nallow uid:0 * *\n", "default rules")
end

-- M.allows reports whether a peer {uid=, gid=} may do op on id.
function M.allows(rules, peer, op, id)
	for _, r in ipairs(rules) do
		if (r.any or (r.uid and r.uid == peer.uid) or (r.gid and r.gid == peer.gid))
			and r.ops[op] and id:match(r.pattern) then
			return r.allow
		end
	end
	return false
end

-- The holder's state: entries[id] = {fd=, expire=SECS, deadline=, timer=}.
local Holder = {}
Holder.__index = Holder

function M.new(opts)
	return setmetatable({ entries = {}, count = 0, expired = {}, expired_n = 0,
		rules = opts.rules or M.default_rules(), max = opts.max or 1000 }, Holder)
end

function Holder:remove(id)
	local e = self.entries[id]
	if not e then return end
	self.entries[id] = nil
	self.count = self.count - 1
	e.fd:close()
	if e.timer and not e.timer:done() then e.timer:cancel() end
end

function Holder:remember_expired(id)
	if self.expired_n >= 1000 then self.expired, self.expired_n = {}, 0 end
	self.expired[id] = true
	self.expired_n = self.expired_n + 1
end

function Holder:store(id, h, secs)
	self:remove(id)
	if self.count >= self.max then
		h:close()
		return "ENOSPC", "the holder is full (" .. self.max .. " descriptors; --max)"
	end
	local e = { fd = h, expire = secs }
	self.entries[id] = e
	self.count = self.count + 1
	self.expired[id] = nil
	if secs then
		e.deadline = clock.monotonic() + secs
		e.timer = task.spawn(function()
			if pcall(task.sleep, secs) and self.entries[id] == e then
				e.timer = nil -- a task cannot cancel itself
				self:remove(id)
				self:remember_expired(id)
			end
		end)
	end
end

local function err(c, name, msg)
	sock.sendfds(c, {}, "err\0" .. name .. "\0" .. msg)
end

-- Holder:handle answers one request from peer on connection c.
function Holder:handle(c, peer, fds, data)
	local f = holder._split(data)
	local op, id = f[1], f[2]
	local function close_fds() for _, h in ipairs(fds) do h:close() end end
	if not OPS[op] then
		close_fds()
		return err(c, "EINVAL", "unknown request " .. string.format("%q", op or ""))
	end
	if op == "list" or op == "dump" then
		close_fds()
		local ids = {}
		for k in pairs(self.entries) do
			if M.allows(self.rules, peer, op, k) then ids[#ids + 1] = k end
		end
		table.sort(ids)
		if op == "list" then
			return sock.sendfds(c, {}, "ok" .. (#ids > 0 and ("\0" .. table.concat(ids, "\0")) or ""))
		end
		local now = clock.monotonic()
		for _, k in ipairs(ids) do
			local e = self.entries[k]
			if e then
				local left = e.deadline and string.format("%.3f", math.max(e.deadline - now, 0.001)) or ""
				sock.sendfds(c, { e.fd }, "entry\0" .. k .. "\0" .. left)
			end
		end
		return sock.sendfds(c, {}, "ok\0" .. #ids)
	end
	if not id or #id < 1 or #id > holder.MAX_ID then
		close_fds()
		return err(c, "EINVAL", "an identifier is 1 to " .. holder.MAX_ID .. " bytes")
	end
	if not M.allows(self.rules, peer, op, id) then
		close_fds()
		common.log("hold", "denied %s %q to pid %d uid %d gid %d", op, id, peer.pid, peer.uid, peer.gid)
		return err(c, "EACCES", string.format("uid %d gid %d may not %s %q", peer.uid, peer.gid, op, id))
	end
	if op == "store" then
		if #fds ~= 1 then
			close_fds()
			return err(c, "EINVAL", "store carries exactly one descriptor, got " .. #fds)
		end
		local secs
		if f[3] and f[3] ~= "" then
			secs = tonumber(f[3])
			if not secs or secs <= 0 then
				close_fds()
				return err(c, "EINVAL", "expiry must be a positive number of seconds")
			end
		end
		local ename, emsg = self:store(id, fds[1], secs)
		if ename then return err(c, ename, emsg) end
		return sock.sendfds(c, {}, "ok")
	end
	close_fds()
	local e = self.entries[id]
	if not e then
		if self.expired[id] then return err(c, "EKEYEXPIRED", string.format("%q expired", id)) end
		return err(c, "ENOENT", string.format("nothing is held under %q", id))
	end
	if op == "retrieve" then return sock.sendfds(c, { e.fd }, "ok") end
	self:remove(id) -- delete
	return sock.sendfds(c, {}, "ok")
end

-- Holder:serve answers requests on c until the client hangs up.
function Holder:serve(c)
	local ok, e = pcall(function()
		local peer = sock.peer(c)
		if peer.pidfd then peer.pidfd:close() end
		while true do
			local fds, data = sock.recvfds(c, { max = 253 })
			if not data then
				for _, h in ipairs(fds) do h:close() end
				return
			end
			self:handle(c, peer, fds, data)
		end
	end)
	c:close()
	if not ok then common.log("hold", "client: %s", tostring(e)) end
end

function Holder:close()
	for id in pairs(self.entries) do self:remove(id) end
end

function M.main(argv)
	local o, pos = args.parse(M.spec, argv)
	if not o then return pos end
	local mode = tonumber(o.socket_mode, 8)
	if not mode or mode < 0 or mode > 511 then
		return args.usage_error(M.spec, "--socket-mode needs an octal mode such as 0600")
	end
	return common.guard("hold", function()
		local rules
		if o.rules then
			local f, e = io.open(o.rules)
			if not f then common.fail("rules", "ENOENT", tostring(e)) end
			local text = f:read("*a")
			f:close()
			rules = M.parse_rules(text, o.rules)
		end
		local h = M.new { rules = rules, max = o.max }
		local target = common.resolve(pos[1], o.abstract)
		local l = common.listen(target, { type = "seqpacket", mode = mode })
		local ok, e = pcall(function()
			while true do
				local c = sock.accept(l)
				task.spawn(Holder.serve, h, c)
			end
		end)
		l:close()
		h:close()
		error(e, 0)
	end)
end

return M
