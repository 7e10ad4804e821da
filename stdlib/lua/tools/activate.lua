-- fdwire activate: socket activation for testing, with the command line of
-- systemd-socket-activate, on proc.spawn's listen= support.
--
-- Process model: fdwire stays COMMAND's parent (it has to: it removes the
-- socket files it made once COMMAND ends, and in --accept mode it runs many
-- COMMANDs), forwards every catchable signal it gets to COMMAND, and exits
-- with COMMAND's status (128+N when signal N ended it). What COMMAND sees
-- (environment, descriptors, names) is what systemd-socket-activate gives;
-- the differences are listed in docs/tools.md.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"

local M = {}

M.spec = {
	name = "activate",
	usage = "fdwire activate [-l ADDR]... [--fdname NAME[:NAME...]]... [-a|--accept] [--inetd]\n" ..
		"                       [--datagram|--seqpacket] [-E VAR[=VALUE]]... [--now] [--count N]\n" ..
		"                       [--socket-mode MODE] [--] COMMAND [ARGS...]",
	about = "Listens on each ADDR (PORT: [::]:PORT dual-stack, HOST:PORT, [HOST]:PORT, tcp:..., /path or\n" ..
		"@name) and starts COMMAND with the sockets at fds 3, 4, ... (after any it inherited through\n" ..
		"LISTEN_FDS) and LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (COMMAND's own pid) set, when\n" ..
		"the first connection or datagram arrives (at once with --now). fdwire stays COMMAND's\n" ..
		"parent: it forwards every catchable signal to COMMAND and exits with its status; socket\n" ..
		"files stay while COMMAND runs and are removed after. With --accept it accepts each\n" ..
		"connection itself and starts one COMMAND per connection, the connection at fd 3\n" ..
		"(LISTEN_FDS=1), or at stdin and stdout with --inetd. As with systemd-socket-activate,\n" ..
		"COMMAND's environment is TERM, PATH, USER and HOME (when set), the -E variables and the\n" ..
		"LISTEN_* ones.",
	options = {
		{ long = "listen", short = "l", arg = "ADDR", list = true, help = "listen on ADDR; repeatable" },
		{ long = "fdname", arg = "NAME", list = true, split = ":",
			help = "name the sockets in order (NAME:NAME... or repeated; one name names them all)" },
		{ long = "accept", short = "a", help = "accept connections and start COMMAND for each" },
		{ long = "inetd", help = "the connection is stdin and stdout, no LISTEN_* (needs --accept)" },
		{ long = "datagram", short = "d", help = "datagram sockets" },
		{ long = "seqpacket", help = "seqpacket sockets" },
		{ long = "setenv", short = "E", arg = "VAR[=VALUE]", list = true,
			help = "pass VAR=VALUE, or VAR with this environment's value (VAR= when unset)" },
		{ long = "now", help = "start COMMAND at once instead of at the first connection" },
		{ long = "count", short = "c", arg = "N", type = "int", min = 1, help = "with --accept: exit after N connections" },
		{ long = "socket-mode", short = "m", arg = "MODE",
			help = "octal mode of the socket files (default: as the umask makes them)" },
		{ long = "version", help = "print the version and exit" },
	},
	terminators = { "--" },
	command = "required",
	standalone = { "version" },
	positional = { min = 0, max = 0, names = "" },
	exits = {
		{ "N", "COMMAND's exit status (128+SIGNAL when a signal ended it), without --accept" },
		{ 0, "with --accept and --count: N connections handled" },
		{ 1, "error (cannot listen, cannot start COMMAND, ...)" },
		{ 2, "bad command line" },
		{ 129, "ended by SIGHUP before COMMAND started, or in --accept mode (COMMANDs are terminated)" },
		{ 130, "ended by SIGINT before COMMAND started, or in --accept mode (COMMANDs are terminated)" },
		{ 131, "ended by SIGQUIT before COMMAND started, or in --accept mode (COMMANDs are terminated)" },
		{ 143, "ended by SIGTERM before COMMAND started, or in --accept mode (COMMANDs are terminated)" },
	},
}

-- FORWARD is every signal fdwire catches and passes to COMMAND: all the
-- catchable ones a service might act on. KILL and STOP cannot be caught;
-- CHLD, URG, PROF and the faults belong to fdwire itself.
M.FORWARD = { "HUP", "INT", "QUIT", "USR1", "USR2", "ALRM", "TERM", "WINCH", "CONT", "TSTP", "TTIN", "TTOU",
	"XCPU", "XFSZ", "VTALRM", "PWR", "SYS", "TRAP", "ABRT" }

-- M.address maps systemd-socket-activate's forms to fdwire's grammar:
-- PORT is [::]:PORT (dual-stack), HOST:PORT (IPv4) and [HOST]:PORT are
-- tcp (udp with --datagram); everything else is fdwire's address grammar.
function M.address(s, datagram)
	local proto = datagram and "udp" or "tcp"
	if s:match("^%d+$") then return proto .. "6:[::]:" .. s end
	if s:match("^%[.*%]:%d+$") then return proto .. "6:" .. s end
	if s:match("^[%d%.]+:%d+$") or s:match("^localhost:%d+$") then return proto .. ":" .. s end
	return s
end

-- PASS are copied from this environment, as systemd-socket-activate does.
M.PASS = { "TERM", "PATH", "USER", "HOME" }

-- M.environment builds COMMAND's environment: TERM, PATH, USER and HOME
-- when set, then the -E options (VAR alone copies this environment's
-- value, or passes VAR= when it is unset).
function M.environment(setenv)
	local env = {}
	for _, k in ipairs(M.PASS) do
		local v = os.getenv(k)
		if v then env[k] = v end
	end
	for _, e in ipairs(setenv) do
		local k, v = e:match("^([^=]+)=(.*)$")
		if k then
			env[k] = v
		else
			env[e] = os.getenv(e) or ""
		end
	end
	return env
end

-- M.names returns the LISTEN_FDNAMES list for n sockets: one name names
-- them all (as systemd-socket-activate does), fewer are completed with
-- "unknown" (what sd_listen_fds_with_names reports for an unnamed one).
function M.names(given, n)
	if #given == 0 then return nil end
	local out = {}
	for i = 1, n do out[i] = #given == 1 and given[1] or given[i] or "unknown" end
	return out
end

-- M.inherited returns the sockets fdwire itself was given by socket
-- activation (LISTEN_FDS with LISTEN_PID this process), and their names.
function M.inherited()
	local n = tonumber(os.getenv("LISTEN_FDS") or "")
	local pid = tonumber(os.getenv("LISTEN_PID") or "")
	if not n or n < 1 or pid ~= proc.self().pid then return {}, {} end
	local names = {}
	for name in ((os.getenv("LISTEN_FDNAMES") or "") .. ":"):gmatch("([^:]*):") do names[#names + 1] = name end
	local hs, ns = {}, {}
	for i = 1, n do
		local ok, h = pcall(fd.from, 2 + i)
		if not ok then common.fail("activate", "EBADF", "LISTEN_FDS=" .. n .. " but descriptor " .. (2 + i) .. " is not open") end
		hs[i] = h
		ns[i] = names[i] ~= "" and names[i] or "unknown"
	end
	return hs, ns
end

local function wait_status(p)
	local code, st = p:wait()
	if type(code) == "number" then return code end
	return 128 + (st.signo or 0)
end

-- M.first_activity waits until one of the listeners is readable.
function M.first_activity(listeners)
	local ready = task.event()
	local tasks = {}
	for i, l in ipairs(listeners) do
		tasks[i] = task.spawn(function()
			-- wait for readiness without taking anything: COMMAND gets
			-- the first connection or datagram itself
			local ok = pcall(fd.ready, l, "r")
			if ok then ready:set() end
		end)
	end
	local ok, e = pcall(ready.wait, ready)
	-- (the events here are not closed: a task cancelled just after it
	-- woke may still set one, and an event holds no descriptor)
	for _, t in ipairs(tasks) do if not t:done() then t:cancel() end end
	if not ok then error(e, 0) end
end

-- watch returns signal.watch of names, or nil where it is missing.
local function watch(names)
	if signal and signal.watch then return signal.watch(names) end
end

-- M.run_one starts COMMAND with every socket, forwards signals to it and
-- returns its status.
function M.run_one(command, listeners, names, env, sigs)
	local spec = { listen = listeners, env = env, listen_names = names }
	for i, a in ipairs(command) do spec[i] = a end
	local p = proc.spawn(spec)
	local forwarder = sigs and task.spawn(function()
		while true do
			local ok, b = pcall(sigs.read, sigs, 1)
			if not ok or not b then return end
			local n = b:byte()
			pcall(p.kill, p, n)
			-- job control: after passing on TSTP, TTIN or TTOU, stop too
			-- (as the exec'd COMMAND would be the one stopped); CONT
			-- resumes us and is passed on in turn.
			if (n == 20 or n == 21 or n == 22) and signal.stop then pcall(signal.stop) end
		end
	end)
	local status = wait_status(p)
	if forwarder and not forwarder:done() then forwarder:cancel() end
	return status
end

function M.main(argv)
	local o, _, command = args.parse(M.spec, argv)
	if not o then return _ end
	if o.version then
		local okv, v = pcall(require, "fdwire.version")
		print("fdwire activate (fdwire " .. (okv and type(v) == "string" and v or "unknown version") .. ")")
		return 0
	end
	if o.datagram and o.seqpacket then return args.usage_error(M.spec, "--datagram and --seqpacket exclude each other") end
	if o.datagram and o.accept then return args.usage_error(M.spec, "--accept needs connections: not with --datagram") end
	if o.inetd and not o.accept then return args.usage_error(M.spec, "--inetd needs --accept") end
	local mode
	if o.socket_mode then
		mode = o.socket_mode:match("^[0-7]+$") and tonumber(o.socket_mode, 8)
		if not mode or mode > 511 then return args.usage_error(M.spec, "--socket-mode needs an octal mode such as 0660") end
	end
	local typ = o.datagram and "dgram" or o.seqpacket and "seqpacket" or "stream"
	local env = M.environment(o.setenv)
	local listeners, keep = {}, nil
	local sigs
	local status = common.guard("activate", function()
		local inherited, inames = M.inherited()
		if #inherited + #o.listen == 0 then
			return args.usage_error(M.spec, "nothing to listen on: give -l ADDR (or inherit LISTEN_FDS)")
		end
		local n = (o.accept and 1) or (#inherited + #o.listen)
		if #o.fdname > n then
			return args.usage_error(M.spec, n .. " sockets but " .. #o.fdname .. " names")
		end
		-- The socket files live as long as COMMAND, not as our copies of
		-- the sockets: they are tied to this pipe end, closed at the end.
		local kr, kw = fd.pipe()
		kw:close()
		keep = kr
		for _, h in ipairs(inherited) do listeners[#listeners + 1] = h end
		for _, a in ipairs(o.listen) do
			local t = sock.parse(M.address(a, o.datagram))
			local l
			if t.kind == "unix" then
				l = common.listen({ addr = t.string, path = t.path, display = t.string },
					{ type = typ, mode = mode, umask = true, file_with = keep })
			else
				l = sock.listen_on(t.string, { type = typ })
			end
			listeners[#listeners + 1] = l
			common.log("activate", "listening on %s", fd.info(l).addr or t.string)
		end
		sigs = watch(o.accept and { "HUP", "INT", "TERM", "QUIT" } or M.FORWARD)
		local names = M.names(o.fdname, n)
		if not o.accept then
			if not names and #inherited > 0 then names = {} end
			if names and #inherited > 0 and #o.fdname == 0 then
				for i = 1, n do names[i] = inames[i] or "unknown" end
			end
			local ended = task.event() -- COMMAND ended ("d") or a signal came first ("s")
			local why
			local started, result = false, nil
			local waiter = task.spawn(function()
				if not o.now then M.first_activity(listeners) end
				started = true
				result = { pcall(M.run_one, command, listeners, names, env, sigs) }
				why = why or "d"
				ended:set()
			end)
			-- Until COMMAND starts, a signal ends fdwire (as it would end
			-- systemd-socket-activate before its exec); afterwards run_one
			-- forwards them.
			local pre = sigs and task.spawn(function()
				if pcall(fd.ready, sigs, "r") and not started then
					why = why or "s"
					ended:set()
				end
			end)
			local okw, ew = pcall(ended.wait, ended)
			if pre and not pre:done() then pre:cancel() end
			if not okw then error(ew, 0) end
			if why == "s" then
				waiter:cancel()
				return 128 + sigs:read(1):byte()
			end
			if not result[1] then error(result[2], 0) end
			return result[2]
		end
		-- --accept: one COMMAND per connection.
		local started, running = 0, {}
		local finished = task.event() -- a stop signal, or --count commands ended
		local stop_signal
		if sigs then
			task.spawn(function()
				local ok, b = pcall(sigs.read, sigs, 1)
				if ok and b then stop_signal = b:byte() end
				finished:set()
			end)
		end
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
						spec.listen_names = names or { "connection" }
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
								finished:set()
							end
						end)
					end
					if not sok and o.count and started >= o.count and next(running) == nil then
						finished:set()
					end
				end
			end)
		end
		local okf, ef = pcall(finished.wait, finished) -- forever without --count
		if not okf then error(ef, 0) end
		if stop_signal then return 128 + stop_signal end
		return 0
	end)
	if sigs then sigs:close() end
	for _, l in ipairs(listeners) do l:close() end
	if keep then keep:close() end -- the socket files go now
	return status
end

return M
