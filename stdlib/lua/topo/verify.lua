-- fdwire.topo.verify: checks a live topology against its spec, from the
-- outside, through /proc/PID/fd, kcmp(2) and sock_diag:
--   * each fd the spec maps is there, on the very object the runner made
--     (same device and inode: pipes and sockets have inodes of their own),
--     with the right access mode for pipe ends, and every process given
--     the same end holds the same open file description (kcmp KCMP_FILE);
--   * each socket pair is still one connection: the end one process holds
--     is the peer (UNIX_DIAG_PEER) of the end the other holds;
--   * listeners handed over are listening;
--   * no process holds an fd the spec did not give it: by default an fd
--     on an object of this run (device and inode) or one that is the same
--     open file description as a descriptor fdwire itself holds (kcmp;
--     never by inode, which every eventfd, epoll and signalfd shares);
--     with {strict = true} any fd at all beyond the map, except those a
--     Go program's runtime opens for itself (see go_own below).
local native = require("fdwire.topo.native")
local util = require("fdwire.util")

local M = {}

local function key(d) return tostring(d.dev) .. ":" .. tostring(d.ino) end

-- go_own says whether f is a descriptor a Go program's runtime opens for
-- itself, which strict does not flag in a process whose executable is a
-- Go program (it has a .go.buildinfo section; every fdwire child is one):
-- its poller's anon_inode:[eventpoll] and anon_inode:[eventfd] (and the
-- eventfd of fdwire's own event loop, when the child is fdwire), and the
-- cgroup CPU-limit files Go 1.25+ keeps open, read-only, to follow
-- GOMAXPROCS changes (cpu.max, or cpu.cfs_quota_us and cpu.cfs_period_us
-- on cgroup v1). In any other process these are flagged like the rest: a
-- Python child's os.eventfd, for one.
local function go_own(f)
	if f.link == "anon_inode:[eventpoll]" or f.link == "anon_inode:[eventfd]" then return true end
	if f.access == "r" and f.link:match("^/sys/fs/cgroup/") then
		local base = f.link:match("[^/]+$")
		return base == "cpu.max" or base == "cpu.cfs_quota_us" or base == "cpu.cfs_period_us"
	end
	return false
end

-- run(top, opts) -> ok, message, problems: ok is true when nothing is
-- wrong; message says so or lists each problem on a line of its own (so
-- assert(top:verify()) prints them); problems is that list.
function M.run(top, opts)
	if opts ~= nil and type(opts) ~= "table" then
		util.errorf("Topology:verify", "EINVAL", "bad argument #1 (opts): expected a table {strict = true}, got " .. type(opts))
	end
	opts = opts or {}
	for k in pairs(opts) do
		if k ~= "strict" then
			util.errorf("Topology:verify", "EINVAL", "opts." .. tostring(k) .. ": unknown option" .. (type(k) == "string" and require("fdwire.topo.spec").suggest(k, { strict = true }) or "") .. " (known: strict)")
		end
	end
	local problems, checked = {}, 0
	local function bad(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
	local self_pid = proc.self().pid
	-- Objects of this run, by inode (pipes and sockets: real inodes).
	local ours = {}
	for name, o in pairs(top.objs) do
		for part, d in pairs(o.ino) do ours[key(d)] = name .. "." .. part end
	end
	for name, P in pairs(top.procs) do
		-- capture_ino holds "dev:ino" keys (run.lua)
		for n, k in pairs(P.capture_ino) do ours[k] = name .. (n == 1 and " stdout" or " stderr") .. " capture" end
	end
	-- fdwire's own descriptors, compared by open file description.
	local own = {}
	for _, h in ipairs(fd.list()) do
		local ok, n = pcall(h.num, h)
		if ok then own[#own + 1] = { num = n, what = tostring(h) } end
	end
	local function fdwire_own(pid, n)
		for _, o in ipairs(own) do
			if native.kcmp(pid, n, self_pid, o.num) then return o.what end
		end
	end
	-- The first holder of each object end: the others must share its
	-- open file description.
	local holders = {}
	local pairs_seen = {} -- pair name -> {a = ino, b = ino}
	local socks_wanted = {}
	for _, name in ipairs(top.def.order) do
		local P = top.procs[name]
		if P.state == "running" and not P.exited then
			local fds = native.proc_fds(P.pid)
			local before = #problems
			if fds and not native.alive(P.pid) then fds = nil end
			if fds then
				checked = checked + 1
				local by = {}
				for _, f in ipairs(fds) do by[f.num] = f end
				local expected = {}
				for n, ref in pairs(P.spec.fds) do
					expected[n] = true
					local f = by[n]
					local where = string.format("procs.%s.fds[%d] (%s)", name, n, ref.text)
					if not f then
						bad("%s: not open in pid %d", where, P.pid)
					elseif ref.kind == "null" then
						if f.link ~= "/dev/null" then bad("%s: is %s, not /dev/null", where, f.link) end
					else
						local o = top.objs[ref.obj]
						local d = o.ino[ref.part]
						-- A connector stands in for an address handle given to a
						-- process without /proc (topo/isolate.lua).
						local conn = P.connector_ino and P.connector_ino[n]
						if conn then d = conn end
						if d and key(f) ~= key(d) then
							bad("%s: is %s, not the %s the runner made (inode %d)", where, f.link, conn and "connector for " .. ref.text or ref.text, d.ino)
						elseif d and not conn then
							local hk = ref.obj .. "." .. ref.part
							local first = holders[hk]
							if not first then
								holders[hk] = { pid = P.pid, num = n, where = where }
							elseif native.kcmp(P.pid, n, first.pid, first.num) == false then
								bad("%s: is another open file description of %s than %s holds (kcmp): opened anew, not passed on", where, ref.text, first.where)
							end
						end
						if ref.kind == "pipe" and f.access ~= ref.part and not (d and key(f) ~= key(d)) then
							bad("%s: open for %q, expected %q", where, f.access, ref.part)
						end
						if ref.kind == "socket" and ref.part ~= "addr" then socks_wanted[#socks_wanted + 1] = f.ino end
						if o.spec.kind == "pair" then
							pairs_seen[ref.obj] = pairs_seen[ref.obj] or {}
							pairs_seen[ref.obj][ref.part] = { ino = f.ino, where = where }
						elseif ref.part == "sock" and o.spec.type ~= "dgram" then
							P.verify_listen = P.verify_listen or {}
							P.verify_listen[#P.verify_listen + 1] = { ino = f.ino, where = where }
						end
					end
				end
				for n, k in pairs(P.capture_ino) do
					expected[n] = true
					local f = by[n]
					if not f then
						bad("procs.%s: fd %d (captured %s) is not open", name, n, n == 1 and "stdout" or "stderr")
					elseif key(f) ~= k then
						bad("procs.%s: fd %d is %s, not the runner's capture pipe", name, n, f.link)
					end
				end
				if P.spec.ready and P.spec.ready.kind == "notify_fd" then expected[P.spec.ready.fd] = true end
				if P.null_stdin then
					expected[0] = true
					if by[0] and by[0].link ~= "/dev/null" then bad("procs.%s: fd 0 is %s, not /dev/null", name, by[0].link) end
				end
				local extra = {}
				for _, f in ipairs(fds) do
					if not expected[f.num] then
						local whose = ours[key(f)]
						if whose and f.link:sub(1, 11) ~= "anon_inode:" then
							bad("procs.%s holds fd %d (%s, which is %s) that the spec did not give it", name, f.num, f.link, whose)
						else
							local mine = fdwire_own(P.pid, f.num)
							if mine then
								bad("procs.%s holds fd %d (%s, the same open file description as fdwire's own %s) that the spec did not give it", name, f.num, f.link, mine)
							elseif opts.strict then
								extra[#extra + 1] = f
							end
						end
					end
				end
				if #extra > 0 then
					local is_go = native.go_program(P.pid)
					for _, f in ipairs(extra) do
						if not (is_go and go_own(f)) then
							bad("procs.%s holds fd %d (%s) that the spec did not give it", name, f.num, f.link)
						end
					end
				end
				-- A process that exited while it was being read (a zombie
				-- has no fds) is skipped like one that had already exited.
				if not native.alive(P.pid) then
					for i = #problems, before + 1, -1 do problems[i] = nil end
					checked = checked - 1
				end
			end
		end
	end
	local socks = {}
	if #socks_wanted > 0 then
		local s, err = native.unix_socks(socks_wanted)
		if not s then
			bad("sock_diag: %s", tostring(err))
		end
		socks = s or {}
	end
	for name, ends in pairs(pairs_seen) do
		local a, b = ends.a, ends.b
		if a and b then
			local sa = socks[tostring(a.ino)]
			if sa and sa.peer_known and sa.peer ~= b.ino then
				bad("sockets.%s: %s and %s are not the two ends of one connection (peer of %d is %d, not %d)", name, a.where, b.where, a.ino, sa.peer, b.ino)
			elseif sa and sa.state ~= "connected" then
				bad("sockets.%s: %s is %s, not connected", name, a.where, sa.state)
			end
		end
	end
	for _, name in ipairs(top.def.order) do
		for _, l in ipairs(top.procs[name].verify_listen or {}) do
			local s = socks[tostring(l.ino)]
			if s and s.state ~= "listen" then bad("%s: socket is %s, not listening", l.where, tostring(s.state)) end
		end
		top.procs[name].verify_listen = nil
	end
	if #problems == 0 then
		return true, string.format("verify %s: %d running process(es) hold exactly their fd maps", top.def.name, checked), problems, checked
	end
	return false, string.format("verify %s: %d problem(s):\n  %s", top.def.name, #problems, table.concat(problems, "\n  ")), problems, checked
end

return M
