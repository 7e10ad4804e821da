-- hello-handler: a handler for `fdwire portlisten`. It listens on a unix
-- socket, takes each descriptor portlisten passes (a connection, or the
-- listening socket itself with --pass listener), greets the connection
-- and closes it.
--
--   fdwire scripts/hello-handler.lua [--dgram] SOCKSPEC [COUNT]
--     serves on SOCKSPEC (@NAME or a path) and exits after COUNT greetings
--     (default: serves until killed). Both of portlisten's forms: its own
--     stream protocol, or with --dgram seed 002's datagrams (the byte "x"
--     and the descriptor, to a SOCK_DGRAM socket bound at a path)
--   fdwire scripts/hello-handler.lua
--     checks itself: runs portlisten's protocol against its own handler
--     and asserts the greeting arrives
local GREETING = "hello from fdwire hello-handler\n"
local LISTENER = "fdwire-portlisten/1 listener"

-- Option tables made once: a table literal per call is an allocation
-- (and a Go map for its keys) per connection.
local WRITE_OPTS = { timeout = 5 }
local RECV_OPTS = { max = 1 }

local function greet(c)
	pcall(c.write, c, GREETING, WRITE_OPTS)
	c:close()
end

-- serve accepts portlisten's connections on l and greets what they carry;
-- it returns after count greetings (nil: never).
local function serve(l, count)
	local done = 0
	local finished = task.event() -- set after count greetings
	local function one(c)
		greet(c)
		done = done + 1
		if count and done == count then finished:set() end
	end
	local function from_portlisten(pc)
		-- One pcall around the loop, not one per message: an error (the
		-- connection ended, a cancel) ends the loop either way.
		pcall(function()
			while true do
				local fds, data = sock.recvfds(pc, RECV_OPTS)
				if not data then break end
				for i = 1, #fds do
					local h = fds[i]
					-- a plain find at 1 (no pattern: gopher-lua compiles one
					-- on every match call; no substring made per connection)
					if data:find(LISTENER, 1, true) == 1 then
						-- We own the listening socket now: accept on it ourselves.
						while true do
							local ok2, c = pcall(sock.accept, h)
							if not ok2 then break end
							one(c)
						end
						h:close()
					else
						one(h)
					end
				end
			end
		end)
		pc:close()
	end
	local tasks = {}
	local acceptor = task.spawn(function()
		while true do
			local ok, pc = pcall(sock.accept, l)
			if not ok then return end
			tasks[#tasks + 1] = task.spawn(from_portlisten, pc)
		end
	end)
	finished:wait() -- until count greetings (or forever)
	-- Every blocking call in these tasks is under pcall, so cancelling
	-- them ends them quietly.
	acceptor:cancel()
	for _, t in ipairs(tasks) do
		if not t:done() then t:cancel() end
	end
	finished:close()
	return done
end

-- serve_dgram receives seed 002's datagrams on the bound socket d.
local function serve_dgram(d, count)
	local done = 0
	while not (count and done == count) do
		local fds, data = sock.recvfds(d, RECV_OPTS)
		for _, h in ipairs(fds) do
			if data == "x" then
				greet(h)
				done = done + 1
			else
				h:close()
			end
		end
	end
	return done
end

local dgram = arg[1] == "--dgram"
local first = dgram and 2 or 1
if arg[first] then
	local addr = arg[first]
	local count = tonumber(arg[first + 1])
	if dgram then
		local d = sock.socket("unix", "dgram")
		sock.bind(d, addr)
		if addr:sub(1, 1) ~= "@" then fs.unlink_on_close(d, addr) end
		serve_dgram(d, count)
		d:close()
		return
	end
	local l = sock.listen_on(addr)
	if addr:sub(1, 1) ~= "@" then fs.unlink_on_close(l, addr) end
	serve(l, count)
	l:close()
	return
end

-- Self-check: play portlisten's part with a connection of our own.
local name = "@fdwire-hello-handler-" .. proc.self().pid
local l = sock.listen_on(name)
local server = task.spawn(serve, l, 1)
local a, b = sock.pair("stream")
local pc = sock.connect(name)
sock.sendfds(pc, { b }, "fdwire-portlisten/1 connection test")
b:close()
local got = a:read(4096, { timeout = 10 })
assert(got == GREETING, "unexpected greeting: " .. tostring(got))
assert(server:wait() == 1)
a:close()
pc:close()
l:close()
-- And seed 002's form: one datagram "x" carrying the connection.
local d = sock.socket("unix", "dgram")
sock.bind(d, name .. "-dgram")
local dserver = task.spawn(serve_dgram, d, 1)
local a2, b2 = sock.pair("stream")
local out = sock.socket("unix", "dgram")
sock.connect(out, name .. "-dgram")
sock.sendfds(out, { b2 }, "x")
b2:close()
assert(a2:read(4096, { timeout = 10 }) == GREETING, "no greeting over a datagram")
assert(dserver:wait() == 1)
a2:close(); out:close(); d:close()
print("hello-handler: greeting received")
