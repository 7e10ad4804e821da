-- fdwire activate: socket activation for testing, with the options of
-- systemd-socket-activate, on proc.spawn's listen= support.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"

local M = {}

M.spec = {
	name = "activate",
	usage = "fdwire activate -l ADDR... [--fdname NAME]... [-a|--accept] [--inetd] [--datagram|--seqpacket]\n" ..
		"                       [-E VAR[=VALUE]]... [--now] -- COMMAND [ARGS...]",
	about = "Listens on each ADDR (PORT, HOST:PORT, tcp:HOST:PORT, tcp6:[HOST]:PORT, /path or @name)\n" ..
		"and starts COMMAND with the listening sockets at fds 3, 4, ... and LISTEN_FDS,\n" ..
		"LISTEN_FDNAMES and LISTEN_PID (its own pid) set, when the first connection or datagram\n" ..
		"arrives (at once with --now); fdwire activate then waits for it and exits with its status.\n" ..
		"With --accept it accepts each connection itself and starts one COMMAND per connection,\n" ..
		"the connection at fd 3 (LISTEN_FDS=1, LISTEN_FDNAMES=connection), or at stdin and stdout\n" ..
		"with --inetd. As with systemd-socket-activate, COMMAND's environment is only the -E\n" ..
		"variables and the LISTEN_* ones. Socket files it made are removed when it ends.",
	options = {
		{ "l", "listen", arg = "ADDR", list = true, help = "listen on ADDR; repeatable" },
		{ nil, "fdname", arg = "NAME", list = true, split = ":",
			help = "name the sockets in order (NAME:NAME... or repeated)" },
		{ "a", "accept", help = "accept connections and start COMMAND for each" },
		{ nil, "inetd", help = "with --accept: the connection is stdin and stdout, no LISTEN_*" },
		{ "d", "datagram", help = "datagram sockets" },
		{ nil, "seqpacket", help = "seqpacket sockets" },
		{ "E", "setenv", arg = "VAR[=VALUE]", list = true,
			help = "pass VAR (from this environment) or VAR=VALUE to COMMAND" },
		{ nil, "now", help = "start COMMAND at once instead of at the first connection" },
		{ "c", "count", arg = "N", int = true, min = 1, help = "with --accept: exit after N connections" },
	},
	terminators = { "--" },
	command = "required",
	positional = { 0, 0, names = "" },
	exits = {
		{ "N", "COMMAND's exit status (128+SIGNAL when a signal ended it), without --accept" },
		{ 0, "with --accept and --count: N connections handled" },
		{ 1, "error (cannot listen, cannot start COMMAND, ...)" },
		{ 2, "bad command line" },
		{ 130, "ended by SIGINT (143: SIGTERM); COMMANDs still running are terminated" },
	},
}

-- M.address maps systemd-socket-activate's forms to fdwire's grammar:
-- PORT and HOST:PORT (IPv4) and [HOST]:PORT are tcp (udp with
-- --datagram); everything else is fdwire's address grammar.
function M.address(s, datagram)
	local proto = datagram and "udp" or "tcp"
	if s:match("^%d+$") then return proto .. ":*:" .. s end
	if s:match("^%[.*%]:%d+$") then return proto .. "6:" .. s end
	if s:match("^[%d%.]+:%d+$") or s:match("^localhost:%d+$") then return proto .. ":" .. s end
	return s
end

-- M.environment builds COMMAND's environment from the -E options.
function M.environment(setenv)
	local env = {}
	for _, e in ipairs(setenv) do
		local k, v = e:match("^([^=]+)=(.*)$")
		if k then
			env[k] = v
		else
			local val = os.getenv(e)
			if val then env[e] = val end
		end
	end
	return env
end

local function wait_status(p)
	local code, st = p:wait()
	if type(code) == "number" then return code end
	return 128 + (st.signo or 0)
end

-- M.first_activity waits until one of the listeners is readable.
function M.first_activity(listeners)
	local bell_r, bell_w = sock.pair("stream")
	local tasks = {}
	for i, l in ipairs(listeners) do
		tasks[i] = task.spawn(function()
			-- wait for readiness without taking anything: COMMAND gets
			-- the first connection or datagram itself
			local ok = pcall(fd.ready, l, "r")
			if ok then pcall(bell_w.write, bell_w, "x") end
		end)
	end
	bell_r:read(1)
	for _, t in ipairs(tasks) do if not t:done() then t:cancel() end end
	bell_r:close()
	bell_w:close()
end

function M.main(argv)
	local o, _, command = args.parse(M.spec, argv)
	if not o then return _ end
	o.names = o.fdname
	if #o.listen == 0 then return args.usage_error(M.spec, "nothing to listen on: give -l ADDR") end
	if o.datagram and o.seqpacket then return args.usage_error(M.spec, "--datagram and --seqpacket exclude each other") end
	if o.datagram and o.accept then return args.usage_error(M.spec, "--accept needs connections: not with --datagram") end
	if o.inetd and not o.accept then return args.usage_error(M.spec, "--inetd needs --accept") end
	if #o.fdname > 0 and #o.names ~= #o.listen and not o.accept then
		return args.usage_error(M.spec, #o.listen .. " sockets but " .. #o.names .. " names")
	end
	local typ = o.datagram and "dgram" or o.seqpacket and "seqpacket" or "stream"
	local env = M.environment(o.setenv)
	local listeners = {}
	local status = common.guard("activate", function()
		for i, a in ipairs(o.listen) do
			local t = sock.parse(M.address(a, o.datagram))
			if t.kind == "unix" then
				listeners[i] = common.listen({ addr = t.string, path = t.path, display = t.string },
					{ type = typ, mode = 438 }) -- 0666: like systemd's default SocketMode
			else
				listeners[i] = sock.listen_on(t.string, { type = typ })
			end
			common.log("activate", "listening on %s", fd.info(listeners[i]).addr or t.string)
		end
		if not o.accept then
			if not o.now then M.first_activity(listeners) end
			local spec = { listen = listeners, env = env }
			if #o.names > 0 then spec.listen_names = o.names end
			for i, a in ipairs(command) do spec[i] = a end
			local p = proc.spawn(spec)
			for _, l in ipairs(listeners) do l:close() end -- COMMAND has them now
			return wait_status(p)
		end
		-- --accept: one COMMAND per connection.
		local started, running = 0, {}
		local bell_r, bell_w = sock.pair("stream")
		for _, l in ipairs(listeners) do
			task.spawn(function()
				while not (o.count and started >= o.count) do
					local ok, c = pcall(sock.accept, l)
					if not ok then return end
					local spec = { env = env }
					if o.inetd then
						spec.fds = { [0] = c, [1] = c }
					else
						spec.listen = { c }
						spec.listen_names = { "connection" }
					end
					for i, a in ipairs(command) do spec[i] = a end
					local sok, p = pcall(proc.spawn, spec)
					c:close()
					started = started + 1
					if not sok then
						common.log("activate", "cannot start %s: %s", command[1], tostring(p))
					else
						running[p] = true
						task.spawn(function()
							pcall(p.wait, p)
							running[p] = nil
							if o.count and started >= o.count and next(running) == nil then
								pcall(bell_w.write, bell_w, "x")
							end
						end)
					end
					if not sok and o.count and started >= o.count and next(running) == nil then
						pcall(bell_w.write, bell_w, "x")
					end
				end
			end)
		end
		bell_r:read(1) -- forever without --count
		bell_r:close()
		bell_w:close()
		return 0
	end)
	for _, l in ipairs(listeners) do l:close() end
	return status
end

return M
