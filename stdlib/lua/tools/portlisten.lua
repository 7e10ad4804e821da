-- fdwire portlisten: bind ADDR (a port below 1024 when root), drop root
-- right after the bind, and hand the listening socket once, or each
-- accepted connection, to a handler listening on a unix socket.
--
-- Wire protocol to the handler (stream): one message per descriptor,
-- "fdwire-portlisten/1 listener ADDR" or "fdwire-portlisten/1 connection
-- PEER", carrying the descriptor. A connection counts as delivered once
-- it is in the handler's socket queue.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"

local M = {}

M.spec = {
	name = "portlisten",
	usage = "fdwire portlisten [--pass listener|connections] [--user USER] [--retry SECS] [--max-held N]\n" ..
		"                         [--abstract] ADDR HANDLER",
	about = "Binds ADDR (tcp:HOST:PORT, tcp6:[HOST]:PORT, or a unix address), then, when running as\n" ..
		"root, drops to USER at once (supplementary groups, gid, uid; no way back). It then passes\n" ..
		"the listening socket, or each accepted connection, to the handler listening on the unix\n" ..
		"socket HANDLER (a SOCKSPEC: @NAME, a path, or a bare NAME in USER's runtime directory).\n" ..
		"HANDLER must be reachable by USER: an abstract @NAME, or a socket file USER may write.\n" ..
		"While the handler is absent, connections are held and delivery retried with backoff\n" ..
		"(10 ms doubling to 1 s); a connection not delivered within --retry seconds, or beyond\n" ..
		"--max-held, is closed with its reason logged: none is lost silently.",
	options = {
		{ "p", "pass", arg = "WHAT", values = { "listener", "connections" }, default = "connections", help = "listener (once, then exit) or connections" },
		{ "u", "user", arg = "USER", default = "nobody", help = "who to become after the bind, when root" },
		{ "r", "retry", arg = "SECS", number = true, min = 0, default = 30,
			help = "how long to keep trying to deliver one descriptor" },
		{ "m", "max-held", arg = "N", int = true, min = 1, default = 128,
			help = "connections held at most while the handler is absent" },
		{ "a", "abstract", help = "a bare HANDLER NAME is the abstract socket @NAME" },
		{ "c", "count", arg = "N", int = true, min = 1, help = "exit after handling N connections" },
	},
	positional = { 2, 2, names = "ADDR and HANDLER" },
	exits = {
		{ 0, "the listener was delivered (--pass listener), or --count connections were handled" },
		{ 1, "error (bind failed, privilege drop failed, ...)" },
		{ 2, "bad command line" },
		{ 3, "no handler within --retry seconds (--pass listener)" },
		{ 130, "ended by SIGINT (143: SIGTERM); held connections are closed" },
	},
}

-- M.drop becomes user (name or uid) when running as root; otherwise it
-- only checks that no other user was asked for.
function M.drop(name, explicit)
	local me = proc.self().uid
	if me ~= 0 then
		if explicit then
			local u = user.lookup(name)
			if u.uid ~= me then
				common.fail("portlisten", "EPERM", "--user " .. name .. " needs root; running as uid " .. me)
			end
		end
		return nil
	end
	return user.drop(name)
end

-- Deliverer hands descriptors to the handler over one connection,
-- reconnecting with backoff.
local D = {}
D.__index = D

function M.deliverer(target)
	return setmetatable({ target = target, delay = 0.01, absent = nil }, D)
end

-- D:try sends h with data once; it returns true when delivered, or false
-- and the reason when the handler is not there.
function D:try(h, data)
	if not self.conn then
		local ok, c = pcall(sock.connect, "stream", self.target.addr, { timeout = 5 })
		if not ok then return false, c end
		self.conn = c
		if self.absent then
			common.log("portlisten", "handler at %s is back", self.target.display)
			self.absent = nil
		end
		self.delay = 0.01
	end
	local ok, e = pcall(sock.sendfds, self.conn, { h }, data, { timeout = 5 })
	if ok then return true end
	self.conn:close()
	self.conn = nil
	return false, e
end

function D:backoff(why)
	if not self.absent then
		common.log("portlisten", "handler at %s unavailable (%s); holding and retrying", self.target.display, tostring(why))
		self.absent = true
	end
	task.sleep(self.delay)
	self.delay = math.min(self.delay * 2, 1)
end

function D:close()
	if self.conn then self.conn:close() end
end

-- M.pass_listener delivers l once, retrying for up to retry seconds.
function M.pass_listener(l, addr, target, retry)
	local d = M.deliverer(target)
	local ok, e = pcall(common.within, retry, function()
		while true do
			local sent, why = d:try(l, "fdwire-portlisten/1 listener " .. addr)
			if sent then return end
			d:backoff(why)
		end
	end)
	d:close()
	if not ok then
		if type(e) == "table" and e.name == "ETIMEDOUT" then
			common.fail("portlisten", "ETIMEDOUT", "no handler at " .. target.display .. " within " .. retry .. " s",
				common.NO_PEER)
		end
		error(e, 0)
	end
end

local function peer_of(c)
	local ok, i = pcall(fd.info, c)
	return ok and i.peer or "?"
end

-- M.pass_connections accepts on l and delivers each connection; held ones
-- wait in order. It returns after count connections when count is set.
function M.pass_connections(l, target, o)
	local d = M.deliverer(target)
	local held = {}
	local bell_r, bell_w = sock.pair("stream")
	local handled = 0
	local accepting = true
	local function finish_one() handled = handled + 1 end
	local function expire()
		local now = clock.monotonic()
		while held[1] and now - held[1].since >= o.retry do
			local it = table.remove(held, 1)
			common.log("portlisten", "closed connection from %s: no handler at %s for %g s (--retry)",
				it.from, target.display, o.retry)
			it.c:close()
			finish_one()
		end
	end
	local acceptor = task.spawn(function()
		while accepting do
			local ok, c = pcall(sock.accept, l)
			if not ok then
				pcall(bell_w.write, bell_w, "x")
				return
			end
			local from = peer_of(c)
			if #held >= o.max_held then
				common.log("portlisten", "closed connection from %s: %d connections already held (--max-held)", from, #held)
				c:close()
				finish_one()
			else
				held[#held + 1] = { c = c, from = from, since = clock.monotonic() }
			end
			-- The deliverer waits on the bell only while nothing is held.
			if #held == 1 then pcall(bell_w.write, bell_w, "x") end
			if o.count and handled + #held >= o.count then return end
		end
	end)
	local ok, e = pcall(function()
		while not (o.count and handled >= o.count) do
			if #held == 0 then
				if acceptor:done() then break end
				bell_r:read(4096)
			else
				local it = held[1]
				local sent, why = d:try(it.c, "fdwire-portlisten/1 connection " .. it.from)
				if sent then
					table.remove(held, 1)
					it.c:close()
					finish_one()
				else
					d:backoff(why)
					expire()
				end
			end
		end
	end)
	accepting = false
	if not acceptor:done() then acceptor:cancel() end
	for _, it in ipairs(held) do
		common.log("portlisten", "closed connection from %s: portlisten is ending", it.from)
		it.c:close()
	end
	d:close()
	bell_r:close()
	bell_w:close()
	if not ok then error(e, 0) end
end

function M.main(argv)
	local o, pos = args.parse(M.spec, argv)
	if not o then return pos end
	if o.pass ~= "listener" and o.pass ~= "connections" then
		return args.usage_error(M.spec, "--pass takes listener or connections, got " .. o.pass)
	end
	local explicit_user = false
	for _, a in ipairs(argv) do
		if a == "-u" or a:match("^%-%-user") or a:match("^%-u.") then explicit_user = true end
	end
	local l
	local status = common.guard("portlisten", function()
		local a = sock.parse(pos[1]) -- a bad ADDR fails before anything is bound
		l = sock.listen_on(a.string)
		local who = M.drop(o.user, explicit_user)
		common.log("portlisten", "listening on %s%s", fd.info(l).addr or pos[1],
			who and string.format(" as %s (uid %d)", who.name, who.uid) or "")
		local target = common.resolve(pos[2], o.abstract)
		if o.pass == "listener" then
			M.pass_listener(l, pos[1], target, o.retry)
		else
			M.pass_connections(l, target, o)
		end
	end)
	if l then l:close() end
	return status
end

return M
