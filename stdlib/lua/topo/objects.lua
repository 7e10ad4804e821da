-- fdwire.topo.objects: the kernel objects of a run (run directory,
-- cgroup, sockets, pipes, pairs), handing them to processes, and making
-- sure none of them, nor any process, outlives the run.
local native = require("fdwire.topo.native")
local util = require("fdwire.util")
local isolate = require("fdwire.topo.isolate")

local M = {}

function M.sorted(t)
	local ks = {}
	for k in pairs(t) do ks[#ks + 1] = k end
	table.sort(ks)
	return ks
end

local serial = 0

-- claim_path makes sure a path socket's name is free before the run uses
-- it. Nothing there is fine; a stale socket (a file whose listener is
-- gone: connect says ECONNREFUSED) is removed; anything else (a regular
-- file, a directory, a link, a socket someone listens on or one of
-- another type) is left alone and the run refuses to start. The run
-- removes only names it made (see close).
local function claim_path(o)
	local p = o.address
	if not fs.exists(p) then return end
	local place = "sockets." .. o.name .. ".path: "
	local st = fs.stat(p)
	if st.type ~= "socket" then
		util.errorf("topo.up", "EEXIST", place .. p .. " exists and is a " .. st.type .. ", not a socket; fdwire removes only what it made, so move it or choose another path")
	end
	local ok, c = pcall(sock.connect, o.spec.type, p)
	if ok then
		c:close()
		util.errorf("topo.up", "EADDRINUSE", place .. "another process is listening on " .. p .. "; fdwire will not take it over")
	end
	if not (type(c) == "table" and c.name == "ECONNREFUSED") then
		util.errorf("topo.up", "EEXIST", place .. p .. " is a socket fdwire cannot tell is stale (" .. tostring(c) .. "); left alone")
	end
	fs.unlink(p)
end

local function ino_of(h)
	local i = h:info()
	return { dev = i.dev, ino = i.ino }
end

-- setup makes the run directory, the cgroup (when one can be made), and
-- every socket and pipe of the spec. Each object records the inode of
-- each of its ends, for verify, and how many processes still need each
-- end, so the runner's own copy is closed once the last one started
-- (a reader sees end-of-file only when every write end is closed).
function M.setup(top)
	local def = top.def
	if def.dir then
		top.rundir = def.dir
	else
		top.rundir, top.guards.dir = native.mkdtemp("fdwire-topo")
		-- A process running as another uid must be able to enter it (its
		-- cwd, relative socket paths): then it is 0711, enter but not list.
		for _, P in pairs(top.procs) do
			if P.spec.uid ~= nil or P.spec.gid ~= nil then
				fs.chmod(top.rundir, tonumber("711", 8))
				break
			end
		end
	end
	local cg, guard = native.cgroup_new("fdwire-topo")
	if cg then
		top.cgroup, top.guards.cgroup = cg, guard
	else
		top.cgroup_error = guard
		if not M.subreaper_set then
			M.subreaper_set = pcall(native.subreaper)
		end
	end
	isolate.setup(top)
	local need = {}
	for _, P in pairs(top.procs) do
		for _, ref in pairs(P.spec.fds) do
			if ref.obj then
				local key = ref.obj .. "." .. ref.part
				need[key] = (need[key] or 0) + 1
			end
		end
	end
	top.need = need
	for _, name in ipairs(M.sorted(def.sockets)) do
		local so = def.sockets[name]
		local o = { name = name, spec = so, h = {}, ino = {} }
		top.objs[name] = o
		if so.kind == "path" then
			o.address = so.path:sub(1, 1) == "/" and so.path or top.rundir .. "/" .. so.path
		elseif so.kind == "abstract" then
			local n = so.abstract
			if n == true then
				serial = serial + 1
				n = string.format("fdwire-%s-%d-%d", name, proc.self().pid, serial)
			end
			o.address = "@" .. n
		end
		if so.kind == "path" then claim_path(o) end
		if so.created then
			if so.kind == "path" or so.kind == "abstract" then
				o.h.sock = isolate.listen(top, o.address, { type = so.type, backlog = so.backlog })
				if so.kind == "path" then
					-- Removed at the end only while it is still this inode.
					local st = fs.stat(o.address)
					o.made_file = { path = o.address, dev = st.dev, ino = st.ino }
				end
			elseif so.kind == "anon" then
				o.h.sock, o.h.addr = sock.bind_anon({ type = so.type, backlog = so.backlog })
			elseif so.kind == "pair" then
				o.h.a, o.h.b = sock.pair(so.type)
			end
			for part, h in pairs(o.h) do o.ino[part] = ino_of(h) end
		elseif so.kind == "path" then
			-- A process binds it (the name was free when the run began);
			-- a socket found there at the end is the run's and goes.
			o.made_file = { path = o.address }
		end
	end
	for _, name in ipairs(M.sorted(def.pipes)) do
		local o = { name = name, spec = { kind = "pipe" }, h = {}, ino = {} }
		top.objs[name] = o
		o.h.r, o.h.w = fd.pipe()
		o.ino.r = ino_of(o.h.r)
		o.ino.w = o.ino.r
	end
	-- Ends nobody is given are closed now.
	for name, o in pairs(top.objs) do
		for part, h in pairs(o.h) do
			if not need[name .. "." .. part] then
				h:close()
				o.h[part] = nil
			end
		end
	end
end

-- release drops the runner's copy of each end P was the last to need.
function M.release(top, P)
	for _, ref in pairs(P.spec.fds) do
		if ref.obj then
			local key = ref.obj .. "." .. ref.part
			top.need[key] = top.need[key] - 1
			if top.need[key] == 0 then
				local o = top.objs[ref.obj]
				if o.h[ref.part] then
					o.h[ref.part]:close()
					o.h[ref.part] = nil
				end
			end
		end
	end
end

local function wait_until(pred, seconds)
	local deadline = native.now() + seconds
	while not pred() and native.now() < deadline do task.sleep(0.005) end
	return pred()
end

-- sweep kills what the processes left behind: the whole cgroup with
-- cgroup.kill, or else every member of each process's session (found in
-- /proc, signalled through pidfds, reaped when reparented to us).
function M.sweep(top)
	local stray = {}
	if top.cgroup then
		if native.cgroup_populated(top.cgroup) then
			for _, pid in ipairs(native.cgroup_pids(top.cgroup)) do stray[#stray + 1] = pid end
			native.cgroup_kill(top.cgroup)
			if not wait_until(function() return not native.cgroup_populated(top.cgroup) end, 5) then
				top.failures[#top.failures + 1] = "teardown: processes left in " .. top.cgroup .. " would not die after cgroup.kill"
			end
		end
	else
		for _, P in pairs(top.procs) do
			if P.pid then
				for _, m in ipairs(native.session_members(P.pid)) do
					stray[#stray + 1] = m.pid
					pcall(native.signal_pid, m.pid, "KILL")
				end
			end
		end
		wait_until(function()
			for _, pid in ipairs(stray) do
				native.reap_orphan(pid)
				if native.alive(pid) then return false end
			end
			return true
		end, 5)
		for _, pid in ipairs(stray) do
			if native.alive(pid) then
				top.failures[#top.failures + 1] = string.format("teardown: pid %d (left behind by the topology) would not die", pid)
			end
		end
	end
	if #stray > 0 then
		table.sort(stray)
		local list = {}
		for _, p in ipairs(stray) do list[#list + 1] = tostring(p) end
		top.notes[#top.notes + 1] = "killed " .. #stray .. " process(es) the topology left behind: pid " .. table.concat(list, ", ")
	end
end

-- close closes every handle the run still holds and removes its files.
function M.close(top)
	isolate.close(top)
	for _, list in ipairs({ top.helpers or {} }) do
		for _, t in ipairs(list) do pcall(t.cancel, t) end
	end
	-- The collector (run.lua) was cancelled above, so nothing waits on
	-- its epoll instance any more.
	if top.ep then
		top.ep:close()
		top.ep_bell:close()
	end
	for _, P in pairs(top.procs) do
		for _, t in ipairs(P.helpers) do pcall(t.cancel, t) end
		for _, h in pairs(P.capture) do if not h:closed() then h:close() end end
		if P.notify_r then P.notify_r:close() end
		-- Stored descriptors nobody took with Topology:fdstore end here.
		if P.proc and P.spec.ready and P.spec.ready.kind == "notify" then
			local ok, fds = pcall(P.proc.fdstore, P.proc)
			if ok and #fds > 0 then
				P.stored = P.stored or { fds = {}, names = {} }
				for _, h in ipairs(fds) do P.stored.fds[#P.stored.fds + 1] = h end
			end
		end
		if P.stored then
			for _, h in ipairs(P.stored.fds) do
				P.stored.closed = (P.stored.closed or 0) + 1
				h:close()
			end
			P.stored.fds = {}
		end
	end
	for _, o in pairs(top.objs) do
		for part, h in pairs(o.h) do
			h:close()
			o.h[part] = nil
		end
		local m = o.made_file
		if m then
			local ok, st = pcall(fs.stat, m.path)
			if ok and st.type == "socket" and (m.ino == nil or (st.ino == m.ino and st.dev == m.dev)) then
				pcall(fs.unlink, m.path)
			end
		end
	end
	if top.sigfd then top.sigfd:close() end
	-- The guards remove the cgroup and the run directory as they close.
	if top.guards.cgroup then top.guards.cgroup:close() end
	if top.guards.dir then top.guards.dir:close() end
end

return M
