-- fdwire.topo.isolate: isolation in topologies (docs/isolation.md,
-- "Topologies"). Per topology, netns = true gives the whole run one
-- private network namespace (loopback up): the sockets fdwire makes for it
-- are made there and every process joins it, so parallel runs never
-- collide on abstract names or ports. Per process, isolate = {...} and
-- root = {...} are proc.spawn's namespaces= and root=; a process with a
-- root and no proc entry gets a connector in place of each address handle
-- it is given (it could not connect through /proc/self/fd/N), and an
-- absolute program path is opened before the pivot and run from the handle.
local M = {}

M.TOP_FIELDS = { "netns" }
M.PROC_FIELDS = { "isolate", "root" }

local KINDS = { user = true, mount = true, net = true, pid = true, ipc = true, uts = true, cgroup = true, time = true }
local ORDER = { "user", "mount", "net", "pid", "ipc", "uts", "cgroup", "time" }

-- check_top reads spec.netns into def.netns.
function M.check_top(def, spec, fail)
	if spec.netns ~= nil and type(spec.netns) ~= "boolean" then fail("netns", "expected true or false, got %s", type(spec.netns)) end
	def.netns = spec.netns == true
end

-- check_proc reads v.isolate and v.root into p.isolate and p.root.
function M.check_proc(p, place, v, fail)
	if v.isolate ~= nil then
		if type(v.isolate) ~= "table" then fail(place .. ".isolate", "expected a table {net = true, mount = true, ...}, got %s", type(v.isolate)) end
		local iso = { namespaces = {} }
		for k, on in pairs(v.isolate) do
			if k == "no_new_privs" then
				if type(on) ~= "boolean" then fail(place .. ".isolate.no_new_privs", "expected true or false, got %s", type(on)) end
				iso.no_new_privs = on
			elseif KINDS[k] then
				if type(on) ~= "boolean" then fail(place .. ".isolate." .. k, "expected true or false, got %s", type(on)) end
			else
				local known = {}
				for _, n in ipairs(ORDER) do known[#known + 1] = n end
				known[#known + 1] = "no_new_privs"
				fail(place .. ".isolate." .. tostring(k), "unknown field (known: %s)", table.concat(known, ", "))
			end
		end
		for _, n in ipairs(ORDER) do
			if v.isolate[n] then iso.namespaces[#iso.namespaces + 1] = n end
		end
		p.isolate = iso
	end
	if v.root ~= nil then
		if type(v.root) ~= "table" then fail(place .. ".root", "expected a list of entries like {bind = \"/srv/data\", at = \"/data\"}, got %s", type(v.root)) end
		if not (p.isolate and v.isolate.mount) then fail(place .. ".root", "a root is built in a new mount namespace: add isolate = {mount = true, ...}") end
		p.root = {}
		p.has_proc = false
		for i, e in ipairs(v.root) do
			if type(e) ~= "table" then fail(place .. ".root[" .. i .. "]", "expected a table, got %s", type(e)) end
			if e.proc then p.has_proc = true end
			p.root[i] = e
		end
	end
end

-- setup makes the run's network namespace.
function M.setup(top)
	if top.def.netns then
		top.netns = sock.netns()
	end
end

-- listen is sock.listen_on inside the run's namespace, if it has one.
function M.listen(top, address, opts)
	if top.netns then return sock.listen_in(top.netns, address, opts) end
	return sock.listen_on(address, opts)
end

-- spawn_args adds the isolation keys to proc.spawn's table argv. fds is
-- the map; made lists handles to close once the child has started.
function M.spawn_args(top, P, argv, fds, made)
	local sp = P.spec
	local iso = sp.isolate
	local new_net = iso and iso.namespaces and false
	if iso then
		argv.namespaces = iso.namespaces
		argv.no_new_privs = iso.no_new_privs
		for _, n in ipairs(iso.namespaces) do new_net = new_net or n == "net" end
	end
	if top.netns and not new_net then
		argv.join = { net = top.netns }
	end
	if sp.root then
		argv.root = sp.root
		-- The working directory is inside the new root.
		argv.cwd = (sp.cwd and sp.cwd:sub(1, 1) == "/") and sp.cwd or "/"
		-- An absolute program is opened out here and run from the handle
		-- (execveat), so it need not be inside the new root.
		if argv[1]:sub(1, 1) == "/" then
			argv.exe = fd.open(argv[1], "O_PATH")
			made[#made + 1] = argv.exe
		end
		if not P.has_proc then
			for n, ref in pairs(sp.fds) do
				if ref.part == "addr" and fds[n] then
					local c = sock.connector(fds[n])
					made[#made + 1] = c
					fds[n] = c
					local i = c:info()
					P.connector_ino = P.connector_ino or {}
					P.connector_ino[n] = { dev = i.dev, ino = i.ino }
				end
			end
		end
	end
end

function M.close(top)
	if top.netns then
		top.netns:close()
		top.netns = nil
	end
end

return M
