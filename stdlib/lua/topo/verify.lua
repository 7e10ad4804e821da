-- fdwire.topo.verify: checks a live topology against its spec, from the
-- outside, through /proc/PID/fd and sock_diag:
--   * each fd the spec maps is there, on the very object the runner made
--     (same device and inode), with the right access mode for pipe ends;
--   * each socket pair is still one connection: the end one process holds
--     is the peer (UNIX_DIAG_PEER) of the end the other holds;
--   * listeners handed over are listening;
--   * no process holds an fd the spec did not give it: by default any fd
--     on an object of this run or of the runner itself (a leak from
--     fdwire); with {strict = true} any fd at all beyond the map.
local native = require("fdwire.topo.native")

local M = {}

local function key(d) return tostring(d.dev) .. ":" .. tostring(d.ino) end

-- run(top, opts) -> ok, problems (a list of strings; empty when ok).
function M.run(top, opts)
	opts = opts or {}
	local problems, checked = {}, 0
	local function bad(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
	-- Every inode that belongs to this run or to the runner.
	local ours = {}
	for name, o in pairs(top.objs) do
		for part, d in pairs(o.ino) do ours[key(d)] = name .. "." .. part end
	end
	for name, P in pairs(top.procs) do
		for n, d in pairs(P.capture_ino) do ours[key(d)] = name .. (n == 1 and " stdout" or " stderr") .. " capture" end
	end
	for _, h in ipairs(fd.list()) do
		local ok, i = pcall(h.info, h)
		if ok and i.ino and i.ino ~= 0 and not ours[key(i)] then ours[key(i)] = "fdwire's own " .. tostring(h) end
	end
	local pairs_seen = {} -- pair name -> {a = ino, b = ino}
	local socks_wanted = {}
	for _, name in ipairs(top.def.order) do
		local P = top.procs[name]
		if P.state == "running" and not P.exited then
			local fds = native.proc_fds(P.pid)
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
						if d and key(f) ~= key(d) then
							bad("%s: is %s, not the %s the runner made (inode %d)", where, f.link, ref.text, d.ino)
						end
						if ref.kind == "pipe" and f.access ~= ref.part then
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
				for n, d in pairs(P.capture_ino) do
					expected[n] = true
					local f = by[n]
					if not f then
						bad("procs.%s: fd %d (captured %s) is not open", name, n, n == 1 and "stdout" or "stderr")
					elseif key(f) ~= key(d) then
						bad("procs.%s: fd %d is %s, not the runner's capture pipe", name, n, f.link)
					end
				end
				if P.spec.ready and P.spec.ready.kind == "notify_fd" then expected[P.spec.ready.fd] = true end
				if P.null_stdin then
					expected[0] = true
					if by[0] and by[0].link ~= "/dev/null" then bad("procs.%s: fd 0 is %s, not /dev/null", name, by[0].link) end
				end
				for _, f in ipairs(fds) do
					if not expected[f.num] then
						local whose = ours[key(f)]
						if whose then
							bad("procs.%s holds fd %d (%s, which is %s) that the spec did not give it", name, f.num, f.link, whose)
						elseif opts.strict then
							bad("procs.%s holds fd %d (%s) that the spec did not give it", name, f.num, f.link)
						end
					end
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
			local sa = socks[a.ino]
			if sa and sa.peer_known and sa.peer ~= b.ino then
				bad("sockets.%s: %s and %s are not the two ends of one connection (peer of %d is %d, not %d)", name, a.where, b.where, a.ino, sa.peer, b.ino)
			elseif sa and sa.state ~= "connected" then
				bad("sockets.%s: %s is %s, not connected", name, a.where, sa.state)
			end
		end
	end
	for _, name in ipairs(top.def.order) do
		for _, l in ipairs(top.procs[name].verify_listen or {}) do
			local s = socks[l.ino]
			if s and s.state ~= "listen" then bad("%s: socket is %s, not listening", l.where, tostring(s.state)) end
		end
		top.procs[name].verify_listen = nil
	end
	return #problems == 0, problems, checked
end

return M
