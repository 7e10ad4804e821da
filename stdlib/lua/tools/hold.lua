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
	usage = "fdwire hold [--rules FILE] [--abstract] [--socket-mode MODE] [--max N] [--max-conn N]\n" ..
		"                   [--max-conn-per-uid N] [--client-timeout SECS] [--lameduck SECS]\n" ..
		"                   [--ready-fd N] [--notify] [--user USER] SOCKSPEC",
	about = "Holds descriptors under names (1-255 bytes) for other processes, on a unix seqpacket\n" ..
		"socket at SOCKSPEC (bare NAME: in the per-user runtime directory; @NAME: abstract).\n" ..
		"Runs until SIGTERM or SIGINT; the socket file is removed when it ends. A client no rule\n" ..
		"allows anything is closed at once; beyond --max-conn (or --max-conn-per-uid for one uid)\n" ..
		"a client is told EAGAIN and closed; a client idle for --client-timeout is closed; an\n" ..
		"accept error (EMFILE, ...) is logged and retried with backoff: nothing held is lost.",
	options = {
		{ long = "rules", short = "r", arg = "FILE", help = "access rules (default: only this uid and root, for everything)" },
		{ long = "abstract", short = "a", help = "a bare NAME is the abstract socket @NAME" },
		{ long = "socket-mode", short = "m", arg = "MODE", default = "0600", help = "octal mode of a path socket" },
		{ long = "max", short = "n", arg = "N", type = "int", min = 1, max = 1000000, default = 1000,
			help = "hold at most N descriptors" },
		{ long = "max-conn", short = "c", arg = "N", type = "int", min = 1, max = 256, default = 16,
			help = "serve at most N clients at once (at most 256)" },
		{ long = "max-conn-per-uid", short = "C", arg = "N", type = "int", min = 1, max = 256,
			help = "serve at most N clients of one uid at once (default: half of --max-conn)" },
		{ long = "client-timeout", short = "t", arg = "SECS", type = "duration", positive = true, default = 10,
			help = "close a client that sends no request for SECS (inf: never)" },
		{ long = "lameduck", short = "l", arg = "SECS", type = "duration", default = 5,
			help = "on SIGTERM stop accepting, finish requests in flight for up to SECS" },
		{ long = "ready-fd", short = "d", arg = "N", type = "int", min = 0,
			help = "when listening, write a newline to descriptor N and close it" },
		{ long = "notify", help = "when listening, send READY=1 to $NOTIFY_SOCKET (sd_notify)" },
		{ long = "user", short = "u", arg = "USER", help = "when root, become USER after binding" },
	},
	positional = { min = 1, max = 1, names = "SOCKSPEC" },
	details = "rules file: one rule a line, the first that matches decides, no match denies:\n" ..
		"  allow|deny  WHO  OPS  PATTERN\n" ..
		"  WHO      uid:N, gid:N (the peer's primary gid), user:NAME, or * for anyone\n" ..
		"  OPS      comma-separated store,retrieve,delete,list,dump, or *\n" ..
		"  PATTERN  identifiers it covers: * any run of bytes, ? one byte (list and dump show\n" ..
		"           and give only the identifiers a rule allows)\n" ..
		"  # starts a comment. Example: allow uid:1000 store,retrieve app/*\n" ..
		"A list or dump by a client no rule allows that operation is refused (EPERM).",
	exits = {
		{ 1, "error (bad rules file, socket in use, ...)" },
		{ 2, "bad command line" },
		args.EXIT_SIGHUP, args.EXIT_SIGINT, args.EXIT_SIGQUIT,
		{ 143, "ended by SIGTERM (after the lame-duck period)" },
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

local function who_matches(r, peer)
	return r.any or (r.uid and r.uid == peer.uid) or (r.gid and r.gid == peer.gid)
end

-- M.allows reports whether a peer {uid=, gid=} may do op on id.
function M.allows(rules, peer, op, id)
	for _, r in ipairs(rules) do
		if who_matches(r, peer) and r.ops[op] and id:match(r.pattern) then
			return r.allow
		end
	end
	return false
end

-- M.may reports whether some allow rule gives peer op (on some identifier;
-- any operation when op is nil). A client no rule allows anything is
-- closed at accept; list and dump without a rule are refused with EPERM.
function M.may(rules, peer, op)
	for _, r in ipairs(rules) do
		if r.allow and who_matches(r, peer) and (op == nil or r.ops[op]) then return true end
	end
	return false
end

-- The holder's state: entries[id] = {fd=, expire=SECS, deadline=, timer=}.
local Holder = {}
Holder.__index = Holder

function M.new(opts)
	local max_conn = opts.max_conn or 16
	return setmetatable({ entries = {}, count = 0, expired = {}, expired_n = 0,
		rules = opts.rules or M.default_rules(), max = opts.max or 1000,
		max_conn = max_conn, max_per_uid = opts.max_conn_per_uid or math.max(1, math.floor(max_conn / 2)),
		client_timeout = opts.client_timeout or 10,
		conns = 0, per_uid = {}, clients = {}, busy = 0, draining = 0, stopping = false, refusals = {} }, Holder)
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

-- Holder:store keeps h under id; an existing id is EBUSY unless replace.
-- On refusal h is closed and the error name and message are returned.
function Holder:store(id, h, secs, replace)
	if self.entries[id] then
		if not replace then
			h:close()
			return "EBUSY", string.format("%q is already held (store with --replace to replace it)", id)
		end
		self:remove(id)
	end
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

-- Answers are bounded in time: a client that does not read is dropped
-- rather than stalling the holder.
local SEND = { timeout = 10 }

local function reply(c, fds, data)
	sock.sendfds(c, fds, data, SEND)
end

local function err(c, name, msg)
	reply(c, {}, "err\0" .. name .. "\0" .. msg)
end

-- LIST_CHUNK bounds one "ids" message so that it always fits the
-- client's receive buffer (4096 bytes); the list is as many messages as
-- it takes, then "ok\0COUNT" so the client can check it has all.
M.LIST_CHUNK = 3800

function Holder:send_list(c, ids)
	local chunk, size = {}, 0
	local function flush()
		if #chunk > 0 then reply(c, {}, "ids\0" .. table.concat(chunk, "\0")) end
		chunk, size = {}, 0
	end
	for _, id in ipairs(ids) do
		if size + #id + 1 > M.LIST_CHUNK then flush() end
		chunk[#chunk + 1] = id
		size = size + #id + 1
	end
	flush()
	reply(c, {}, "ok\0" .. #ids)
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
		if not M.may(self.rules, peer, op) then
			common.log("hold", "denied %s to pid %d uid %d gid %d (no rule allows it)", op, peer.pid, peer.uid, peer.gid)
			return err(c, "EPERM", string.format("no rule allows uid %d gid %d to %s", peer.uid, peer.gid, op))
		end
		local ids = {}
		for k in pairs(self.entries) do
			if M.allows(self.rules, peer, op, k) then ids[#ids + 1] = k end
		end
		table.sort(ids)
		if op == "list" then return self:send_list(c, ids) end
		local now = clock.monotonic()
		local n = 0
		for _, k in ipairs(ids) do
			local e = self.entries[k]
			if e then
				local left = e.deadline and string.format("%.3f", math.max(e.deadline - now, 0.001)) or ""
				reply(c, { e.fd }, "entry\0" .. k .. "\0" .. left)
				n = n + 1
			end
		end
		return reply(c, {}, "ok\0" .. n)
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
			if not secs or secs <= 0 or secs ~= secs or secs == 1 / 0 then
				close_fds()
				return err(c, "EINVAL", "expiry must be a positive number of seconds")
			end
		end
		local ename, emsg = self:store(id, fds[1], secs, f[4] == "replace")
		if ename then return err(c, ename, emsg) end
		return reply(c, {}, "ok")
	end
	close_fds()
	local e = self.entries[id]
	if not e then
		if self.expired[id] then return err(c, "EKEYEXPIRED", string.format("%q expired", id)) end
		return err(c, "ENOENT", string.format("nothing is held under %q", id))
	end
	if op == "retrieve" then return reply(c, { e.fd }, "ok") end
	self:remove(id) -- delete
	return reply(c, {}, "ok")
end

-- Holder:serve answers requests on c until the client hangs up, stays
-- idle past the client timeout, or the holder stops.
function Holder:serve(c, peer)
	local ok, e = pcall(function()
		local ro = { max = 253, timeout = self.client_timeout < math.huge and self.client_timeout or nil }
		while not self.stopping do
			local okr, fds, data, extra = pcall(sock.recvfds, c, ro)
			if not okr then
				local e = fds
				if type(e) == "table" and e.name == "ETIMEDOUT" then return end -- idle: dropped
				if not (type(e) == "table" and (e.name == "EMFILE" or e.name == "ENFILE")) then error(e, 0) end
				-- The kernel could not give us the request's descriptor; the
				-- client still has its own: say so, and go on.
				common.log("hold", "a request from pid %d lost its descriptor: %s", peer.pid, tostring(e))
				err(c, e.name, "the holder is out of descriptors: nothing was stored")
			elseif not data then
				for _, h in ipairs(fds) do h:close() end
				return
			else
				self.busy = self.busy + 1
				local okh, eh = pcall(function()
					if extra and extra.truncated then
						for _, h in ipairs(fds) do h:close() end
						return err(c, "EMSGSIZE", "the request was cut short (MSG_TRUNC): nothing was done")
					end
					self:handle(c, peer, fds, data)
				end)
				self.busy = self.busy - 1
				if not okh then error(eh, 0) end
			end
		end
	end)
	c:close()
	self.clients[c] = nil
	self.conns = self.conns - 1
	self.per_uid[peer.uid] = self.per_uid[peer.uid] - 1
	if self.per_uid[peer.uid] == 0 then self.per_uid[peer.uid] = nil end
	if not ok and not (type(e) == "table" and e.name == "ECANCELED") then
		common.log("hold", "client pid %d uid %d: %s", peer.pid, peer.uid, tostring(e))
	end
end

-- Holder:refuse tells a client why it is not served and closes it; the
-- log says so once per uid and reason every 10 s, with a count.
-- Closing at once would discard the answer when the client's request is
-- already queued (the kernel then reports ECONNRESET first), so up to 64
-- refused clients at a time get a second to read it.
function Holder:refuse(c, peer, name, why)
	pcall(sock.sendfds, c, {}, "err\0" .. name .. "\0" .. why, { timeout = 1 })
	if self.draining < 64 then
		self.draining = self.draining + 1
		task.spawn(function()
			local deadline = clock.monotonic() + 1
			while true do
				local left = deadline - clock.monotonic()
				if left <= 0 then break end
				local ok, fds, data = pcall(sock.recvfds, c, { max = 253, timeout = left })
				if ok then for _, h in ipairs(fds) do h:close() end end
				if not ok or not data then break end
			end
			c:close()
			self.draining = self.draining - 1
		end)
	else
		c:close()
	end
	local k = peer.uid .. " " .. name
	local r = self.refusals[k]
	local now = clock.monotonic()
	if not r or now - r.since >= 10 then
		if r and r.n > 1 then
			common.log("hold", "refused %d more clients of uid %d (%s)", r.n - 1, peer.uid, name)
		end
		common.log("hold", "refused client pid %d uid %d: %s", peer.pid, peer.uid, why)
		self.refusals[k] = { since = now, n = 1 }
	else
		r.n = r.n + 1
	end
end

-- Holder:admit serves c, or refuses it when no rule allows its uid
-- anything or when the connection limits are reached.
function Holder:admit(c)
	local okp, peer = pcall(sock.peer, c)
	if not okp then c:close() return end
	if peer.pidfd then peer.pidfd:close() end
	if not M.may(self.rules, peer) then
		return self:refuse(c, peer, "EACCES", string.format("no rule allows uid %d gid %d anything", peer.uid, peer.gid))
	end
	if self.conns >= self.max_conn then
		return self:refuse(c, peer, "EAGAIN", "too many clients (" .. self.max_conn .. "; --max-conn)")
	end
	local mine = self.per_uid[peer.uid] or 0
	if mine >= self.max_per_uid then
		return self:refuse(c, peer, "EAGAIN",
			string.format("too many clients of uid %d (%d; --max-conn-per-uid)", peer.uid, self.max_per_uid))
	end
	self.conns = self.conns + 1
	self.per_uid[peer.uid] = mine + 1
	self.clients[c] = task.spawn(Holder.serve, self, c, peer)
end

-- Holder:accept_loop accepts until the holder stops; an accept error is
-- logged and retried with backoff (common.acceptor) instead of ending
-- the holder and closing everything it holds.
function Holder:accept_loop(l)
	local accept = common.acceptor("hold", l, function()
		return string.format(", still holding %d descriptors", self.count)
	end)
	while not self.stopping do
		self:admit((accept()))
	end
end

-- Holder:lameduck stops taking requests: idle clients are closed at
-- once, requests being answered get up to secs to finish.
function Holder:lameduck(secs)
	self.stopping = true
	local deadline = clock.monotonic() + secs
	while self.busy > 0 and clock.monotonic() < deadline do task.sleep(0.01) end
	for c, t in pairs(self.clients) do
		if not t:done() then t:cancel() end
		c:close()
	end
end

function Holder:close()
	for id in pairs(self.entries) do self:remove(id) end
end

-- M.ready tells whoever waits that the holder listens: a newline on
-- descriptor n (s6's notification-fd protocol: the newline is the
-- signal), and/or READY=1 to $NOTIFY_SOCKET.
function M.ready(n, notify)
	if n then fd.from(n):write("\n") end
	if notify then
		local where = os.getenv("NOTIFY_SOCKET")
		if not where or where == "" then
			common.fail("hold --notify", "EINVAL", "NOTIFY_SOCKET is not set")
		end
		local s = sock.connect("dgram", where)
		sock.sendfds(s, {}, "READY=1")
		s:close()
	end
end

-- M.check_removable refuses --user with a socket file that USER could not
-- remove at the end (its directory is not writable by USER, or sticky):
-- the holder must not leave it behind.
function M.check_removable(path, name)
	local u = user.lookup(name)
	local dir = path:match("^(.*)/[^/]*$")
	if dir == "" then dir = "/" end
	local st = fs.stat(dir)
	local function bit(m, b) return math.floor(m / b) % 2 == 1 end
	local writable = (st.uid == u.uid and bit(st.mode, 128)) or (st.gid == u.gid and bit(st.mode, 16)) or bit(st.mode, 2)
	if not writable or bit(st.mode, 512) then
		common.fail("hold --user", "EACCES", string.format(
			"%s could not remove %s when the holder ends (%s is not writable by uid %d, or is sticky): " ..
			"use an @NAME, or a socket in a directory %s may write", u.name or name, path, dir, u.uid, u.name or name))
	end
end

local function read_rules(path)
	local f, e = io.open(path)
	if not f then common.fail("rules", "ENOENT", tostring(e)) end
	local text = f:read("*a")
	f:close()
	return M.parse_rules(text, path)
end

-- signals returns a descriptor readable when a signal that ends the
-- holder arrives (one byte: its number), or nil where signal.watch is not
-- available (then the runtime's own handling ends it at once).
local function signals()
	if signal and signal.watch then return signal.watch { "INT", "TERM", "HUP", "QUIT" } end
end

function M.main(argv)
	local o, pos = args.parse(M.spec, argv)
	if not o then return pos end
	local mode = tonumber(o.socket_mode, 8)
	if not o.socket_mode:match("^[0-7]+$") or not mode or mode > 511 then
		return args.usage_error(M.spec, "--socket-mode needs an octal mode such as 0600")
	end
	if o.ready_fd then
		local okf = pcall(fd.from, o.ready_fd)
		if not okf then return args.usage_error(M.spec, "--ready-fd " .. o.ready_fd .. ": descriptor is not open") end
	end
	return common.guard("hold", function()
		local rules = o.rules and read_rules(o.rules) or M.default_rules()
		local h = M.new { rules = rules, max = o.max, max_conn = o.max_conn,
			max_conn_per_uid = o.max_conn_per_uid, client_timeout = o.client_timeout }
		local target = common.resolve(pos[1], o.abstract)
		if o.user and target.path and proc.self().uid == 0 then M.check_removable(target.path, o.user) end
		local l = common.listen(target, { type = "seqpacket", mode = mode })
		local sig
		local ok, e = pcall(function()
			if o.user then
				local who = common.drop("hold", o.user)
				if who then common.log("hold", "serving as %s (uid %d)", who.name, who.uid) end
			end
			sig = signals()
			M.ready(o.ready_fd, o.notify)
			local bell_r, bell_w = sock.pair("stream")
			local failed, signo
			local acceptor = task.spawn(function()
				local okA, eA = pcall(Holder.accept_loop, h, l)
				if not okA then failed = eA end
				pcall(bell_w.write, bell_w, "a")
			end)
			local watcher = sig and task.spawn(function()
				local okS, b = pcall(sig.read, sig, 1)
				if okS and b then signo = b:byte() end
				pcall(bell_w.write, bell_w, "s")
			end)
			bell_r:read(1)
			if watcher and not watcher:done() then watcher:cancel() end
			bell_r:close()
			bell_w:close()
			if failed then error(failed, 0) end
			if not acceptor:done() then acceptor:cancel() end
			l:close() -- no new clients; the socket file goes now
			local grace = signo == 15 and o.lameduck or 0
			if grace > 0 and h.busy > 0 then
				common.log("hold", "SIGTERM: lame duck, finishing %d requests in flight (up to %g s)", h.busy, grace)
			end
			h:lameduck(grace)
			if signo then common.fail("hold", "EINTR", "ended by signal " .. signo, 128 + signo) end
		end)
		if sig then sig:close() end
		l:close()
		h:lameduck(0)
		local held = h.count
		h:close()
		if not ok and type(e) == "table" and e.status and e.status >= 128 then
			common.log("hold", "%s; closed the %d descriptors it held", e.msg, held)
			return e.status
		end
		if not ok then error(e, 0) end
	end)
end

return M
