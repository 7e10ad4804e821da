-- fdwire.topo.run: runs a topology definition. One coordinator task owns
-- the state; helper tasks (output readers, exit waiters, readiness
-- probes) only push events and wake it through an eventfd, so every
-- decision (start, fail, end, tear down) happens in one place, in order.
local native = require("fdwire.topo.native")
local util = require("fdwire.util")
local objects = require("fdwire.topo.objects")
local report = require("fdwire.topo.report")
local isolate = require("fdwire.topo.isolate")

local M = {}

local WAKE = string.char(1, 0, 0, 0, 0, 0, 0, 0)
local now = native.now

-- push queues an event and wakes the coordinator. One write of the
-- eventfd is enough until the coordinator reads it: top.woken says one
-- is pending (at teardown every process pushed an exit and two
-- end-of-files, each a write).
local function wake(top)
	if not top.woken and not top.wake:closed() then
		top.woken = true
		pcall(top.wake.write, top.wake, WAKE)
	end
end

local function push(top, ev)
	top.events[#top.events + 1] = ev
	wake(top)
end
M.push = push

local function pending(top) return top.ev_next <= #top.events end

-- wait_event parks the coordinator until an event arrives or deadline
-- (an absolute now() value, or nil for none) passes.
local function wait_event(top, deadline)
	if pending(top) then return end
	local opts
	if deadline then opts = { timeout = math.max(deadline - now(), 0.001) } end
	local ok, err = pcall(top.wake.read, top.wake, 8, opts)
	-- The read took every pending write: the next push writes again.
	if ok then top.woken = false end
	if not ok and not (type(err) == "table" and err.name == "ETIMEDOUT") then error(err, 0) end
end

local function failure(top, msg, reason)
	top.failures[#top.failures + 1] = msg
	if not top.ending then top.ending = reason or "failed" end
end
M.failure = failure

local function note(top, msg) top.notes[#top.notes + 1] = msg end

-- FDSTORE=1 descriptors: kept per process until Topology:fdstore(name)
-- hands them over; the teardown closes the rest.
function M.keep_fdstore(P, fds, names)
	if not fds or #fds == 0 then return end
	-- Made on first use: most processes never store a descriptor.
	P.stored = P.stored or { fds = {}, names = {} }
	for i, f in ipairs(fds) do
		P.stored.fds[#P.stored.fds + 1] = f
		P.stored.names[#P.stored.names + 1] = names[i]
	end
end

function M.collect_fdstore(P)
	if P.proc and P.spec.ready and P.spec.ready.kind == "notify" then
		local ok, fds, names = pcall(P.proc.fdstore, P.proc)
		if ok then M.keep_fdstore(P, fds, names) end
	end
end

-- notify_note is "; last STATUS=..." for failure lines of a process that
-- told its status over sd_notify.
local function notify_note(P)
	if not (P.proc and P.spec.ready and P.spec.ready.kind == "notify") then return "" end
	local ok, n = pcall(P.proc.notices, P.proc)
	if ok and n and n.status then return "; last STATUS=" .. n.status end
	return ""
end
M.notify_note = notify_note

local function status_string(st)
	if not st then return "?" end
	if st.code ~= nil then return "exit " .. st.code end
	return "signal " .. tostring(st.signal)
end
M.status_string = status_string

local function spawn_helper(top, P, fn)
	local t = task.spawn(function()
		local ok, err = pcall(fn)
		if not ok and not top.tearing and not (P and P.exited) then
			push(top, { t = "internal", P = P, err = err })
		end
	end)
	local list = P and P.helpers or top.helpers
	list[#list + 1] = t
	return t
end

-- Following the processes. One task, the collector, waits on an epoll
-- instance (native.watcher) holding every capture pipe's read end and
-- every process's pidfd; each is known by a key in top.watched. Three
-- tasks per process (two readers and an exit waiter) each cost a
-- gopher-lua thread (~2.5 KB live and ~8 KB of garbage) and a park. A
-- process reaped by someone else (Proc:wait on Topology:proc, Proc:ready
-- when it ends first) is reported too (see luabind/topobind/watch.go).
local NOWAIT = { timeout = 0 }

local function watch(top, w, what)
	top.nwatch = top.nwatch + 1
	w.key = top.nwatch
	native.watch(top.ep, what, w.key)
	top.watched[w.key] = w
end

-- Output capture: keep everything, echo whole lines with a name prefix,
-- and check an output readiness pattern as text arrives.
local function capture(top, P, stream, r)
	P.readers = P.readers + 1
	watch(top, { P = P, stream = stream, r = r, partial = "", prefix = P.name .. (stream == "stdout" and " | " or " ! ") }, r)
end

-- echo prints one line of w's output; the echo function is the caller's
-- (opts.echo), so what it raises is the run's failure, and that stream's
-- echo ends, not every capture.
local function echo(top, w, line)
	if w.echo_failed then return end
	local ok, err = pcall(top.echo, w.prefix .. line)
	if not ok then
		w.echo_failed = true
		if not top.tearing then push(top, { t = "internal", P = w.P, err = err }) end
	end
end

-- output_ended: the stream w is at its end (or failed): its last partial
-- line is echoed and the pipe closed.
local function output_ended(top, w)
	top.watched[w.key] = nil
	native.unwatch(top.ep, w.r)
	if top.echo and w.partial ~= "" then echo(top, w, w.partial) end
	w.r:close()
	w.P.readers = w.P.readers - 1
	-- Nothing to handle, only the teardown's wait for the last output
	-- to wake up (it counts P.readers).
	wake(top)
end

-- output reads what w's pipe holds (it is ready: data or its end).
local function output(top, w)
	local P, stream = w.P, w.stream
	local ok, data = pcall(w.r.read, w.r, 65536, NOWAIT)
	if ok and data ~= nil then
		local buf = P.out[stream]
		buf[#buf + 1] = data
		if top.echo then
			local partial = w.partial .. data
			w.partial = partial:match("[^\n]*$")
			for line in partial:gmatch("([^\n]*)\n") do echo(top, w, line) end
		end
		local rd = P.spec.ready
		if rd and rd.kind == "output" and not P.ready and (rd.stream == stream or rd.stream == "output") then
			if table.concat(buf):find(rd.pattern) then push(top, { t = "ready", P = P }) end
		end
	elseif not (not ok and type(data) == "table" and data.name == "ETIMEDOUT") then
		output_ended(top, w) -- nil at the end; an error ends the stream as it ended a reader
	end
end

-- exited reaps the process behind w (its pidfd is readable: it ended)
-- and returns the event to push.
local function exited(top, w)
	local P = w.P
	native.unwatch(top.ep, P.proc)
	local ok, e, st = pcall(P.proc.wait, P.proc, NOWAIT)
	if ok then
		top.watched[w.key] = nil
		return { t = "exit", P = P, st = st }
	end
	if type(e) == "table" and e.name == "ETIMEDOUT" then
		native.watch(top.ep, P.proc, w.key) -- not yet after all
		return nil
	end
	top.watched[w.key] = nil
	if not top.tearing then return { t = "internal", err = e } end
end

-- collector is the task that follows every process. In each batch the
-- exits are reaped first, and pushed after the batch's output, so what a
-- process wrote before it ended is seen before its end. (No pcall per
-- event: each would run in a coroutine of the glue's; the one caller's
-- function it runs, echo, is protected on its own.)
local function collector(top)
	while true do
		if not pcall(fd.ready, top.ep) then return end -- cancelled at the end of the run
		local keys = native.collect(top.ep)
		local ends
		for _, k in ipairs(keys) do
			local w = top.watched[k]
			if w and w.r == nil then
				local ev = exited(top, w)
				if ev then
					ends = ends or {}
					ends[#ends + 1] = ev
				end
			end
		end
		for _, k in ipairs(keys) do
			local w = top.watched[k]
			if w and w.r ~= nil then output(top, w) end
		end
		if ends then
			for _, ev in ipairs(ends) do push(top, ev) end
		end
	end
end

-- follow adds a started process to the collector (made with the first).
local function follow(top, P)
	if not top.ep then
		top.ep, top.ep_bell = native.watcher()
		top.helpers[#top.helpers + 1] = task.spawn(collector, top)
	end
	for stream, r in pairs(P.capture) do capture(top, P, stream, r) end
	watch(top, { P = P }, P.proc)
end

local function ready_probe(top, P)
	local rd = P.spec.ready
	if rd.kind == "connect" then
		local o = top.objs[rd.socket]
		spawn_helper(top, P, function()
			local delay = 0.002
			while not P.ready and not P.exited and not top.tearing do
				local ok, c = pcall(sock.connect, o.spec.type, o.address, { timeout = 1 })
				if ok then
					c:close()
					push(top, { t = "ready", P = P })
					return
				end
				task.sleep(delay)
				delay = math.min(delay * 2, 0.05)
			end
		end)
	elseif rd.kind == "notify" then
		-- proc.spawn's notify server (runtime/proc/notify.go) receives,
		-- authenticates by sender pid and keeps draining after READY=1;
		-- this only waits for the first READY=1. A child that ends first
		-- makes ready() raise: the exit event reports that.
		spawn_helper(top, P, function()
			local ok, r = pcall(P.proc.ready, P.proc)
			if ok then
				M.keep_fdstore(P, r.fds, r.names)
				push(top, { t = "ready", P = P })
			end
		end)
	elseif rd.kind == "notify_fd" then
		local r = P.notify_r
		spawn_helper(top, P, function()
			local got = ""
			while true do
				local data = r:read(4096)
				if data == nil then
					if not P.ready then push(top, { t = "notready", P = P, why = "closed its notify fd " .. rd.fd .. " without writing a newline" }) end
					return
				end
				got = got .. data
				if got:find("\n") then
					push(top, { t = "ready", P = P })
					return
				end
			end
		end)
	end
end

-- env_base is the part of every process's environment that is the same
-- for all of a topology's processes, in order, each variable once: the
-- run's own variables (FDWIRE_PROC_NAME's place kept after the first
-- two), each socket's address, then fdwire's environment without what
-- activation and notify set per process. Made once per topology: built
-- per process it was ~60 us each (a pattern compiled per socket name, a
-- lookup per inherited variable).
local PROC_NAME_AT = 2 -- FDWIRE_PROC_NAME follows FDWIRE_TOPO_DIR and FDWIRE_TOPO_NAME
local function env_base(top)
	local keys, kvs, seen = {}, {}, { FDWIRE_PROC_NAME = true }
	local function add(k, kv)
		if not seen[k] then
			keys[#keys + 1], kvs[#kvs + 1] = k, kv
			seen[k] = true
		end
	end
	add("FDWIRE_TOPO_DIR", "FDWIRE_TOPO_DIR=" .. top.rundir)
	add("FDWIRE_TOPO_NAME", "FDWIRE_TOPO_NAME=" .. top.def.name)
	for name, o in pairs(top.objs) do
		if o.address and o.spec.kind ~= "anon" then
			local k = "FDWIRE_SOCK_" .. name:upper():gsub("[^%w]", "_")
			add(k, k .. "=" .. o.address)
		end
	end
	-- Plain find and sub, not patterns: gopher-lua compiles a pattern on
	-- every match call. Inherited duplicates pass, as they always did.
	for _, kv in ipairs(top.environ) do
		local eq = kv:find("=", 1, true)
		local k = eq and kv:sub(1, eq - 1)
		if k and not seen[k] and kv:sub(1, 7) ~= "LISTEN_" and k ~= "NOTIFY_SOCKET" then
			keys[#keys + 1], kvs[#kvs + 1] = k, kv
		end
	end
	return { keys = keys, kvs = kvs }
end

-- envlist is P's environment: its own env= (sorted by name) first, then
-- env_base with FDWIRE_PROC_NAME in its place; a variable P sets itself
-- is not repeated.
local function envlist(top, P)
	top.env_base = top.env_base or env_base(top)
	local keys, kvs = top.env_base.keys, top.env_base.kvs
	local own = P.spec.env
	local env = native.table(#kvs + 1 + (own and 8 or 0), 0)
	local mine
	if own and next(own) ~= nil then
		mine = {}
		for _, k in ipairs(objects.sorted(own)) do
			env[#env + 1] = k .. "=" .. own[k]
			mine[k] = true
		end
	end
	for i = 1, #kvs do
		if not (mine and mine[keys[i]]) then env[#env + 1] = kvs[i] end
		if i == PROC_NAME_AT and not (mine and mine.FDWIRE_PROC_NAME) then env[#env + 1] = "FDWIRE_PROC_NAME=" .. P.name end
	end
	return env
end

local CAPTURED = { stdout = 1, stderr = 2 }

local function start(top, P)
	local sp = P.spec
	-- Sized: see native.table (the map has 0, 1, 2 and a few more).
	local fds, mine = native.table(0, 4), native.table(4, 0)
	local ok, err = pcall(function()
		local nlisten = #sp.listen
		for n, ref in pairs(sp.fds) do
			if n >= 3 and n < 3 + nlisten then
				-- activation: proc.spawn's listen= places these at 3...
			elseif ref.kind == "null" then
				fds[n] = fd.open("/dev/null", "r+")
				mine[#mine + 1] = fds[n]
			else
				fds[n] = top.objs[ref.obj].h[ref.part]
				if not fds[n] then util.errorf("topo.up", "EBADF", "procs." .. P.name .. ": " .. ref.text .. " is no longer open") end
			end
		end
		if not fds[0] then
			fds[0] = fd.open("/dev/null", "r")
			mine[#mine + 1] = fds[0]
			P.null_stdin = true
		end
		for stream, n in pairs(CAPTURED) do
			if not fds[n] then
				local r, w = fd.pipe()
				fds[n] = w
				mine[#mine + 1] = w
				P.capture[stream] = r
				local dev, ino = native.dev_ino(r)
				P.capture_ino[n] = tostring(dev) .. ":" .. tostring(ino)
			end
		end
		local rd = sp.ready
		if rd and rd.kind == "notify_fd" then
			local r, w = fd.pipe()
			fds[rd.fd] = w
			mine[#mine + 1] = w
			P.notify_r = r
		end
		-- The spawn table: the arguments and a dozen options.
		local argv = native.table(#sp.argv, 16)
		for i, a in ipairs(sp.argv) do argv[i] = a end
		if nlisten > 0 then
			-- proc.spawn sets LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the
			-- child's own pid) and puts the sockets at 3, 4, ...
			argv.listen, argv.listen_names = {}, {}
			for i, name in ipairs(sp.listen) do
				argv.listen[i] = top.objs[name].h.sock
				argv.listen_names[i] = name
			end
		end
		argv.fds = fds
		argv.notify = rd and rd.kind == "notify" or nil
		argv.uid, argv.gid, argv.groups = sp.uid, sp.gid, sp.groups
		argv.env = envlist(top, P)
		argv.cwd = sp.cwd and (sp.cwd:sub(1, 1) == "/" and sp.cwd or top.rundir .. "/" .. sp.cwd) or top.rundir
		-- Its own session: a terminal's ^C reaches fdwire, which then tears
		-- down in order, and the session id finds stray descendants.
		argv.setsid = true
		-- Born inside the topology's cgroup (clone3 CLONE_INTO_CGROUP), so
		-- nothing it forks can start outside the group cgroup.kill empties.
		argv.cgroup = top.guards.cgroup
		isolate.spawn_args(top, P, argv, fds, mine)
		-- Read before the fork: the child may run (and its clock with it)
		-- before spawn returns, and duration and ready_after must never be
		-- shorter than what the child itself lived.
		P.t_start = now()
		P.proc = proc.spawn(argv)
	end)
	for _, h in ipairs(mine) do h:close() end
	if not ok then
		for _, h in pairs(P.capture) do h:close() end
		if P.notify_r then P.notify_r:close() end
		P.state, P.t_start = "failed", nil
		top.setup_failed = true
		failure(top, P.name .. ": could not start: " .. tostring(err), "setup")
		return
	end
	P.pid = P.proc:pid()
	P.state = "running"
	objects.release(top, P)
	follow(top, P)
	if sp.ready then ready_probe(top, P) end
end

local function cond_holds(top, d)
	local D = top.procs[d.name]
	if d.cond == "started" then return D.state ~= "pending" and D.state ~= "failed" end
	if d.cond == "ready" then return D.ready == true end
	if d.cond == "exited" then return D.exited and D.ok_exit end
end

local function start_eligible(top)
	for _, name in ipairs(top.def.order) do
		local P = top.procs[name]
		if P.state == "pending" then
			local go = true
			for _, d in ipairs(P.spec.depends) do
				if not cond_holds(top, d) then go = false break end
			end
			if go then start(top, P) end
			if top.ending then return end
		end
	end
end

local function check_exit(top, P)
	local st, e = P.status, P.spec.expect
	-- Already failed as "still running at teardown": the teardown's own
	-- signal is not a second failure.
	if P.running_at_teardown then
		P.ok_exit = false
		return
	end
	if e.exit ~= nil then
		P.ok_exit = st.code == e.exit
		if not P.ok_exit then failure(top, string.format("%s: expected exit %d, got %s%s", P.name, e.exit, status_string(st), notify_note(P))) end
	elseif e.signal ~= nil then
		P.ok_exit = st.signal == e.signal
		if not P.ok_exit then failure(top, string.format("%s: expected signal %s, got %s%s", P.name, e.signal, status_string(st), notify_note(P))) end
	else
		P.ok_exit = st.code == 0
		if not P.ok_exit and not top.tearing then
			failure(top, string.format("%s: exited unexpectedly (%s)%s", P.name, status_string(st), notify_note(P)))
		end
	end
end

local function handle(top, ev)
	local P = ev.P
	if ev.t == "exit" then
		P.exited, P.status, P.t_exit = true, ev.st, now()
		P.state = "exited"
		if top.tearing and P.term_sent then P.stopped_by_teardown = true end
		for _, t in ipairs(P.helpers) do pcall(t.cancel, t) end
		if P.spec.ready and not P.ready and not top.tearing then
			failure(top, string.format("%s: %s before it was ready (ready: %s)%s", P.name, status_string(P.status), report.ready_desc(P.spec.ready), notify_note(P)))
			P.failed_unready = true
		end
		-- A service that died before it was ready has said all there is.
		if not (P.failed_unready and not P.spec.must_exit) then check_exit(top, P) end
	elseif ev.t == "ready" then
		if not P.ready and not P.exited then
			P.ready, P.t_ready = true, now()
		end
	elseif ev.t == "notready" then
		if not P.ready and not top.tearing then failure(top, P.name .. ": " .. ev.why) end
	elseif ev.t == "signal" then
		top.signal = ev.sig
		if not top.ending then top.ending = "interrupted" end
	elseif ev.t == "down" then
		if not top.ending then top.ending = "down" end
	elseif ev.t == "internal" then
		failure(top, (P and P.name .. ": " or "") .. "internal error: " .. tostring(ev.err))
	end
end

-- drain handles the queued events in order, those that handling queues
-- too. top.ev_next is the next one to handle: table.remove(t, 1) moved
-- every entry after it, which made a teardown's thousands of events
-- quadratic. One that raises is behind ev_next already; the rest stay.
local function drain(top)
	while top.ev_next <= #top.events do
		local i = top.ev_next
		top.ev_next = i + 1
		handle(top, top.events[i])
	end
	top.events, top.ev_next = {}, 1
end

-- up_done: every process has started, and each with a ready check is
-- ready (or has exited); topo.up returns then.
local function up_done(top)
	for _, P in pairs(top.procs) do
		if P.state == "pending" then return false end
		if P.spec.ready and not P.ready and not P.exited then return false end
	end
	return true
end

local function signal_up(top)
	if not top.up_signalled then
		top.up_signalled = true
		top.up_at = now()
		pcall(top.upfd.write, top.upfd, WAKE)
	end
end

local function completed(top)
	local any_must, running = false, false
	for _, P in pairs(top.procs) do
		if P.state == "pending" then return false end
		if P.spec.must_exit then
			any_must = true
			if not P.exited then return false end
		elseif P.state == "running" then
			running = true
		end
	end
	return any_must or not running
end

-- deadlines returns the nearest deadline and, when it has passed, the
-- failure it means.
local function d_note(P)
	if P.spec.ready and P.spec.ready.kind == "notify" then return notify_note(P) end
	return ""
end

local function deadlines(top)
	local t, nearest, why = now(), nil, nil
	local function consider(d, msg, reason)
		if d <= t and not why then why = { type(msg) == "function" and msg() or msg, reason } end
		if not nearest or d < nearest then nearest = d end
	end
	if top.def.timeout then
		local still = {}
		for _, name in ipairs(top.def.order) do
			local P = top.procs[name]
			if P.state == "running" and P.spec.must_exit then still[#still + 1] = name end
			if P.state == "pending" then still[#still + 1] = name .. " (not started)" end
		end
		consider(top.t0 + top.def.timeout, string.format("%s: timed out after %gs; %s", top.def.name, top.def.timeout,
			#still > 0 and "still waiting for: " .. table.concat(still, ", ") or "services still running"), "timeout")
	end
	for _, P in pairs(top.procs) do
		if P.state == "running" then
			if P.spec.timeout then
				consider(P.t_start + P.spec.timeout, string.format("%s: still running after its timeout of %gs", P.name, P.spec.timeout), "timeout")
			end
			local rd = P.spec.ready
			if rd and not P.ready then
				consider(P.t_start + rd.timeout, function()
					return string.format("%s: not ready within %gs (ready: %s)%s", P.name, rd.timeout, report.ready_desc(rd), d_note(P))
				end, "failed")
			end
		end
	end
	return nearest, why
end

local function coordinate(top)
	while true do
		drain(top)
		if top.ending then return end
		start_eligible(top)
		if top.ending then return end
		if not pending(top) then
			if up_done(top) then signal_up(top) end
			if completed(top) then
				top.ending = "completed"
				return
			end
			local nearest, why = deadlines(top)
			if why then
				failure(top, why[1], why[2])
				return
			end
			wait_event(top, nearest)
		end
	end
end

-- teardown stops what still runs, the most dependent level first:
-- SIGTERM, the grace period, SIGKILL; then whatever the processes left
-- behind (descendants, socket files, the run directory).
local function teardown(top)
	top.tearing = true
	top.t_down = now()
	for _, name in ipairs(top.def.order) do
		local P = top.procs[name]
		if P.state == "running" and P.spec.must_exit then
			P.running_at_teardown = true
			failure(top, string.format("%s: expected %s, but it was still running at teardown", P.name,
				P.spec.expect.exit and "exit " .. P.spec.expect.exit or "signal " .. tostring(P.spec.expect.signal)))
		end
	end
	local maxlvl = 0
	for _, P in pairs(top.procs) do maxlvl = math.max(maxlvl, P.spec.level) end
	local function running_at(lvl)
		local g = {}
		for _, name in ipairs(top.def.order) do
			local P = top.procs[name]
			if P.spec.level == lvl and P.state == "running" then g[#g + 1] = P end
		end
		return g
	end
	local function wait_group(g, deadline)
		while now() < deadline do
			drain(top)
			local any = false
			for _, P in ipairs(g) do if not P.exited then any = true end end
			if not any then return end
			wait_event(top, deadline)
		end
		drain(top)
	end
	for lvl = maxlvl, 0, -1 do
		local g = running_at(lvl)
		if #g > 0 then
			for _, P in ipairs(g) do
				P.term_sent = now()
				pcall(P.proc.kill, P.proc, "TERM")
			end
			wait_group(g, now() + top.def.grace)
			local stubborn = {}
			for _, P in ipairs(g) do
				if not P.exited then
					P.killed = true
					stubborn[#stubborn + 1] = P
					note(top, string.format("%s (pid %d) did not exit within %gs of SIGTERM; sent SIGKILL", P.name, P.pid, top.def.grace))
					pcall(P.proc.kill, P.proc, "KILL")
				end
			end
			if #stubborn > 0 then wait_group(stubborn, now() + 5) end
			for _, P in ipairs(stubborn) do
				if not P.exited then failure(top, string.format("%s (pid %d) would not die, even after SIGKILL", P.name, P.pid)) end
			end
		end
	end
	objects.sweep(top)
	for _, P in pairs(top.procs) do
		M.collect_fdstore(P)
		P.notices = P.proc and P.spec.ready and P.spec.ready.kind == "notify" and P.proc:notices() or nil
	end
	-- Let the output readers drain what the processes wrote last.
	local deadline = now() + 1
	while now() < deadline do
		drain(top)
		local busy = false
		for _, P in pairs(top.procs) do if P.readers > 0 then busy = true end end
		if not busy then break end
		wait_event(top, deadline)
	end
	drain(top)
	objects.close(top)
	if top.budget then native.memory_budget(-top.budget); top.budget = nil end
end

-- new builds the topology state and makes its sockets and pipes; it
-- raises (after cleaning up) when that fails.
function M.new(def, opts)
	local top = {
		def = def, opts = opts, events = {}, ev_next = 1, watched = {}, nwatch = 0, failures = {}, notes = {}, procs = {}, objs = {},
		echo = opts.echo, t0 = now(), guards = {}, helpers = {},
	}
	if opts.echo == true then top.echo = print end
	-- Sized tables: gopher-lua gives a table made by {} room for 32
	-- entries in the part its first key needs (2.8 KB for one string
	-- key), and these exist once per process.
	local sized = native.table
	for _, name in ipairs(def.order) do
		top.procs[name] = {
			name = name, spec = def.procs[name], state = "pending", out = { stdout = {}, stderr = {} },
			capture = sized(0, 2), capture_ino = sized(2, 0), helpers = {}, readers = 0,
			-- stored = {fds=, names=}: see keep_fdstore
		}
	end
	-- The Go soft memory limit grows with the processes started (see
	-- luabind/topobind/memory.go); teardown gives them back.
	top.budget = #def.order
	native.memory_budget(top.budget)
	-- fdwire's environment, read once: nothing in fdwire changes it, and
	-- each process's start copied all of it again.
	top.environ = native.environ()
	top.wake = fd.eventfd(0)
	top.upfd = fd.eventfd(0)
	local ok, err = pcall(objects.setup, top)
	if not ok then
		objects.close(top)
		native.memory_budget(-top.budget)
		top.wake:close()
		top.upfd:close()
		if top.sigfd then top.sigfd:close() end
		error(err, 0)
	end
	if opts.signals then
		-- The first SIGINT/SIGTERM/SIGHUP/SIGQUIT starts the ordered
		-- teardown; a second gives up on it: os.exit, whose runtime close
		-- still ends the children and removes the run's files.
		top.sigfd = M.watch_signals()
		spawn_helper(top, nil, function()
			local b = top.sigfd:read(1)
			if not b then return end
			push(top, { t = "signal", sig = b:byte() })
			local b2 = top.sigfd:read(1)
			if b2 then os.exit(128 + b2:byte()) end
		end)
	end
	return top
end

-- watch_signals -> Fd readable with one byte per SIGINT, SIGTERM, SIGHUP
-- or SIGQUIT (signal.watch, shared with the tools).
function M.watch_signals()
	if type(signal) ~= "table" or type(signal.watch) ~= "function" then
		util.errorf("topo.up", "EINVAL", "opts.signals needs the signal module (luabind/helpers Signals)")
	end
	return signal.watch({ "INT", "TERM", "HUP", "QUIT" })
end

-- run is the coordinator task's body: it returns the result.
function M.run(top)
	local ok, err = pcall(coordinate, top)
	if not ok then failure(top, "internal error: " .. tostring(err)) end
	signal_up(top)
	local ok2, err2 = pcall(teardown, top)
	if not ok2 then
		failure(top, "teardown: " .. tostring(err2))
		pcall(objects.close, top)
	end
	top.outcome = report.result(top)
	top.wake:close()
	return top.outcome
end

-- wait_up parks the caller until the topology is up or has ended; the
-- caller owns upfd and closes it (closing it under a parked reader could
-- leave that reader polling a reused number).
function M.wait_up(top)
	while not top.up_signalled do
		top.upfd:read(8)
	end
	top.upfd:close()
end

return M
