-- fdwire portlisten: bind ADDR (a port below 1024 when root), drop root
-- right after the bind, and hand the listening socket once, or each
-- accepted connection, to a handler listening on a unix socket.
--
-- Wire protocol to the handler (stream, the default): one message per
-- descriptor, "fdwire-portlisten/1 listener ADDR" or "fdwire-portlisten/1
-- connection PEER", carrying the descriptor. With --dgram, seed 002's
-- portlisten.c format: one datagram per descriptor, the byte "x" and the
-- descriptor, to a SOCK_DGRAM socket bound at the handler's path. A
-- descriptor counts as delivered once it is in the handler's socket queue.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"

local M = {}

M.spec = {
	name = "portlisten",
	usage = "fdwire portlisten [--pass listener|connections] [--dgram] [--user USER] [--retry SECS]\n" ..
		"                         [--max-held N] [--abstract] [--allow-server-uid UID]... [--count N]\n" ..
		"                         ADDR HANDLER",
	about = "Binds ADDR (tcp:HOST:PORT, tcp6:[HOST]:PORT, or a unix address), then, when running as\n" ..
		"root, drops to USER at once (supplementary groups, gid, uid; no way back). It then passes\n" ..
		"the listening socket, or each accepted connection, to the handler listening on the unix\n" ..
		"socket HANDLER (a SOCKSPEC: @NAME, a path, or a bare NAME in USER's runtime directory).\n" ..
		"HANDLER must be reachable by USER: an abstract @NAME, or a socket file USER may write.\n" ..
		"Before passing anything it checks who serves HANDLER: USER, root, or --allow-server-uid\n" ..
		"(SO_PEERCRED; with --dgram the socket file's owner). While the handler is absent,\n" ..
		"connections are held and delivery retried with backoff (10 ms doubling to 1 s); a\n" ..
		"connection not delivered within --retry seconds, or beyond --max-held, is closed with its\n" ..
		"reason logged: none is lost silently. A handler of the wrong socket type (EPROTOTYPE)\n" ..
		"is a configuration error, reported at once.",
	options = {
		{ long = "pass", short = "p", arg = "WHAT", values = { "listener", "connections" }, default = "connections",
			help = "listener (once, then exit) or connections" },
		{ long = "dgram", short = "D", help = "seed 002's wire format: one datagram \"x\" + the descriptor to a\n" ..
			"SOCK_DGRAM socket at the path HANDLER" },
		{ long = "user", short = "u", arg = "USER", help = "who to become after the bind, when root (default nobody)" },
		{ long = "retry", short = "r", arg = "SECS", type = "duration", default = 30,
			help = "how long to keep trying to deliver one descriptor" },
		{ long = "max-held", short = "m", arg = "N", type = "int", min = 1, max = 65536, default = 128,
			help = "connections held at most while the handler is absent" },
		{ long = "abstract", short = "a", help = "a bare HANDLER NAME is the abstract socket @NAME" },
		{ long = "allow-server-uid", short = "U", arg = "UID", type = "int", min = 0, max = 4294967294,
			list = true, comma = true, help = "also trust a handler run by UID; repeatable" },
		{ long = "count", short = "c", arg = "N", type = "int", min = 1, help = "exit after handling N connections" },
	},
	positional = { min = 2, max = 2, names = "ADDR and HANDLER" },
	exits = args.with_signals({
		{ 0, "the listener was delivered (--pass listener), or --count connections were handled" },
		{ 1, "error (bind or privilege drop failed, handler of the wrong socket type, accept failed)" },
		{ 2, "bad command line" },
		{ 3, "no handler within --retry seconds (--pass listener)" },
		{ 7, "HANDLER is served by an untrusted uid: nothing was passed" },
	}, "; held connections are closed and logged"),
}

-- M.drop becomes user (name or uid; default nobody) when running as root;
-- without root, only a --user naming this uid is accepted.
function M.drop(name)
	if proc.self().uid ~= 0 and not name then return nil end
	return common.drop("portlisten", name or "nobody")
end

-- Deliverer hands descriptors to the handler over one connection,
-- reconnecting with backoff. A wrong socket type or an untrusted server
-- is fatal (raised), not a reason to retry.
local D = {}
D.__index = D

function M.deliverer(target, o)
	o = o or {}
	return setmetatable({ target = target, delay = 0.01, absent = nil, dgram = o.dgram,
		trust = o.trust }, D)
end

local function fatal(e)
	return type(e) == "table" and (e.name == "EPROTOTYPE" or e.status == common.UNTRUSTED)
end

-- D:check_file makes sure a datagram handler's socket file belongs to a
-- trusted uid (no SO_PEERCRED on datagram sockets): stat before and after
-- the connect must name the same socket.
function D:check_file(before)
	local st = fs.stat(self.target.path)
	if st.ino ~= before.ino or st.dev ~= before.dev then
		common.fail("portlisten", "EAGAIN", self.target.display .. " changed while connecting")
	end
	local me = proc.self().uid
	if st.uid == me or st.uid == 0 then return end
	for _, u in ipairs(self.trust or {}) do if u == st.uid then return end end
	common.fail("connect " .. self.target.display, "EPERM", string.format(
		"the socket file belongs to uid %d, not to uid %d or root: nothing sent (trust it with --allow-server-uid %d)",
		st.uid, me, st.uid), common.UNTRUSTED)
end

function D:connect()
	if self.dgram then
		local before
		local okst, st = pcall(fs.stat, self.target.path)
		if not okst then return false, st end
		before = st
		local s = sock.socket("unix", "dgram")
		local ok, e = pcall(sock.connect, s, self.target.addr)
		if not ok then
			s:close()
			if type(e) == "table" and e.name == "EPROTOTYPE" then
				common.fail("portlisten", "EPROTOTYPE", self.target.display ..
					" is not a datagram socket: drop --dgram for fdwire's stream handlers")
			end
			return false, e
		end
		local okc, ec = pcall(self.check_file, self, before)
		if not okc then s:close() error(ec, 0) end
		return s
	end
	local ok, c = pcall(sock.connect, "stream", self.target.addr, { timeout = 5 })
	if not ok then
		if type(c) == "table" and c.name == "EPROTOTYPE" then
			common.fail("portlisten", "EPROTOTYPE", self.target.display ..
				" is not a stream socket: a datagram handler (seed 002's) needs --dgram")
		end
		return false, c
	end
	common.check_server(c, self.target, self.trust)
	return c
end

-- D:try sends h with data once; it returns true when delivered, or false
-- and the reason when the handler is not there.
function D:try(h, data)
	if not self.conn then
		local c, why = self:connect()
		if not c then return false, why end
		self.conn = c
		if self.absent then
			common.log("portlisten", "handler at %s is back", self.target.display)
			self.absent = nil
		end
		self.delay = 0.01
	end
	local ok, e = pcall(sock.sendfds, self.conn, { h }, self.dgram and "x" or data, { timeout = 5 })
	if ok then return true end
	self.conn:close()
	self.conn = nil
	if fatal(e) then error(e, 0) end
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
function M.pass_listener(l, addr, target, retry, o)
	local d = M.deliverer(target, o)
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

-- M.pass_connections accepts on l and delivers each connection; held ones
-- wait in order. It returns after count connections when count is set.
--
-- While the handler is connected and nothing is held, the acceptor hands
-- each connection over itself with a send that does not wait (it only
-- ever fills the handler's socket queue); a connection that would have to
-- wait, or whose send fails, is held, and the delivery task takes it from
-- there with retries and backoff. So order, --max-held and --retry are
-- those of the held list alone, and the common case costs no task switch.
function M.pass_connections(l, target, o)
	local d = M.deliverer(target, { dgram = o.dgram, trust = o.allow_server_uid })
	local held = {}
	local wake = task.event() -- the delivery task waits on it while nothing is held
	local handled = 0
	local accepting = true
	local NOW = { timeout = 0 }
	local box = {}
	local function finish_one() handled = handled + 1 end
	local function message(from) return d.dgram and "x" or "fdwire-portlisten/1 connection " .. from end
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
	-- delivered_now sends c at once when that needs no wait: true when it
	-- is in the handler's queue (and closed here).
	local function delivered_now(c, from)
		if held[1] or not d.conn then return false end
		box[1] = c
		local ok = pcall(sock.sendfds, d.conn, box, message(from), NOW)
		box[1] = nil
		if not ok then return false end
		c:close()
		finish_one()
		return true
	end
	-- A listener portlisten made itself is its own in this mode, never
	-- passed on: made non-blocking, sock.accept tries accept(2) directly
	-- instead of polling before every connection (docs/decisions.md,
	-- "Accept without a poll"). An inherited one (ADDR fd:N) may be shared,
	-- so its description is left as it is.
	if o.own_listener then l:nonblock(true) end
	-- A transient accept error (EMFILE, ...) is retried with backoff while
	-- everything held stays held; any other ends portlisten with that
	-- error (exit 1), after the held connections are closed and logged.
	local accept = common.acceptor("portlisten", l, function()
		return string.format(", %d connections held", #held)
	end)
	local accept_error
	local acceptor = task.spawn(function()
		local ok, e = pcall(function()
			while accepting do
				-- accept gives the peer's address (no fd.info per connection)
				local c, peer = accept()
				local from = peer or "?"
				if not delivered_now(c, from) then
					if #held >= o.max_held then
						common.log("portlisten", "closed connection from %s: %d connections already held (--max-held)", from, #held)
						c:close()
						finish_one()
					else
						held[#held + 1] = { c = c, from = from, since = clock.monotonic() }
						if #held == 1 then wake:notify() end
					end
				end
				if o.count and handled + #held >= o.count then return end
			end
		end)
		if not ok and not (type(e) == "table" and e.name == "ECANCELED") then accept_error = e end
		wake:notify() -- the delivery task sees that accepting ended
	end)
	local ok, e = pcall(function()
		while not (o.count and handled >= o.count) do
			if #held == 0 then
				if acceptor:done() then break end
				wake:wait()
			else
				local it = held[1]
				local sent, why = d:try(it.c, message(it.from))
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
	-- wake is not closed: the cancelled acceptor still runs to its last
	-- notify, and an event holds no descriptor.
	if not ok then error(e, 0) end
	if accept_error then error(accept_error, 0) end
end

function M.main(argv)
	local o, pos = args.parse(M.spec, argv)
	if not o then return pos end
	local l
	local status = common.guard("portlisten", function()
		local a = sock.parse(pos[1]) -- a bad ADDR fails before anything is bound
		l = sock.listen_on(a.string)
		local who = M.drop(o.user)
		common.log("portlisten", "listening on %s%s", fd.info(l).addr or pos[1],
			who and string.format(" as %s (uid %d)", who.name, who.uid) or "")
		local target = common.resolve(pos[2], o.abstract)
		if o.dgram and not target.path then
			common.fail("portlisten", "EINVAL", "--dgram needs a socket path for HANDLER: who bound an abstract " ..
				"datagram name cannot be checked (datagram sockets carry no SO_PEERCRED)")
		end
		if o.pass == "listener" then
			M.pass_listener(l, pos[1], target, o.retry, { dgram = o.dgram, trust = o.allow_server_uid })
		else
			o.own_listener = a.kind ~= "fd"
			M.pass_connections(l, target, o)
		end
	end)
	if l then l:close() end
	return status
end

return M
