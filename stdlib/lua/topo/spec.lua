-- fdwire.topo.spec: validates a topology spec and normalises it into a
-- definition the runner, the graph and verify share. Every error names
-- its place in the spec: procs.client.fds[3]: no socket named "ap".
local util = require("fdwire.util")
local isolate = require("fdwire.topo.isolate")

local M = {}

local function fail(place, fmt, ...)
	local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
	util.errorf("topo.define", "EINVAL", place .. ": " .. msg)
end

local function by_type_then_value(a, b)
	if type(a) == type(b) then return a < b end
	return type(a) == "number"
end

local function sorted_keys(t)
	local ks, mixed, first = {}, false, nil
	for k in pairs(t) do
		ks[#ks + 1] = k
		first = first or type(k)
		mixed = mixed or type(k) ~= first
	end
	-- Keys of one type sort by <, which table.sort does without calling
	-- back into Lua (a 1000-process spec's names: ~10,000 calls fewer).
	if mixed then table.sort(ks, by_type_then_value) else table.sort(ks) end
	return ks
end
M.sorted_keys = sorted_keys

-- "did you mean" hints on misspelt names: the tools' one suggester
-- (fdwire.tools.args), over the names sorted so ties are stable.
local function suggest(name, t)
	local list = {}
	for k in pairs(t or {}) do
		if type(k) == "string" then list[#list + 1] = k end
	end
	table.sort(list)
	local best = require("fdwire.tools.args").suggest(name, list)
	return best and string.format(" (did you mean %q?)", best) or ""
end
M.suggest = suggest

local function check_fields(place, t, known)
	for k in pairs(t) do
		if not known[k] then
			local list = sorted_keys(known)
			fail(place .. "." .. tostring(k), "unknown field%s (known: %s)", type(k) == "string" and suggest(k, known) or "", table.concat(list, ", "))
		end
	end
end

local function set(...)
	local s = {}
	for _, k in ipairs({ ... }) do s[k] = true end
	return s
end

local TOP_FIELDS = set("name", "sockets", "pipes", "procs", "timeout", "grace", "dir")
local SOCK_FIELDS = set("path", "abstract", "anon", "pair", "type", "backlog")
local PROC_FIELDS = set("argv", "sh", "env", "cwd", "fds", "listen", "ready", "depends_on", "expect", "timeout", "stdin", "uid", "gid", "groups")
for _, k in ipairs(isolate.TOP_FIELDS) do TOP_FIELDS[k] = true end
for _, k in ipairs(isolate.PROC_FIELDS) do PROC_FIELDS[k] = true end
local READY_FIELDS = set("notify", "notify_fd", "connect", "output", "stdout", "stderr", "timeout")
local EXPECT_FIELDS = set("exit", "signal", "stdout", "stderr")
local TYPES = set("stream", "dgram", "seqpacket")
local CONDS = { started = "started", ready = "ready", exited = "exited", exited_ok = "exited", ["exited ok"] = "exited" }
M.DEFAULT_READY_TIMEOUT = 10
M.DEFAULT_GRACE = 2

local function check_name(place, name)
	if type(name) ~= "string" or not name:match("^[%a_][%w_%-]*$") then
		fail(place, "names are letters, digits, _ and -, starting with a letter or _ (got %s)", type(name) == "string" and string.format("%q", name) or type(name))
	end
end

local function positive(place, v)
	if v ~= nil and (type(v) ~= "number" or v <= 0) then
		fail(place, "expected a number of seconds > 0, got %s", tostring(v))
	end
	return v
end

local function patterns(place, v)
	if v == nil then return nil end
	if type(v) == "string" then v = { v } end
	if type(v) ~= "table" then fail(place, "expected a Lua pattern or a list of them, got %s", type(v)) end
	for i, p in ipairs(v) do
		if type(p) ~= "string" then fail(place .. "[" .. i .. "]", "expected a string, got %s", type(p)) end
		local ok, err = pcall(string.find, "", p)
		if not ok then fail(place .. "[" .. i .. "]", "bad Lua pattern %q: %s", p, tostring(err)) end
	end
	return v
end

local function check_sockets(def, spec)
	local s = spec.sockets
	if s == nil then return end
	if type(s) ~= "table" then fail("sockets", "expected a table {name = {...}}, got %s", type(s)) end
	for _, name in ipairs(sorted_keys(s)) do
		local place = "sockets." .. tostring(name)
		check_name(place, name)
		local v = s[name]
		if type(v) ~= "table" then fail(place, "expected a table such as {path = \"x.sock\"} or {anon = true}, got %s", type(v)) end
		check_fields(place, v, SOCK_FIELDS)
		local kinds = {}
		if v.path ~= nil then kinds[#kinds + 1] = "path" end
		if v.abstract ~= nil then kinds[#kinds + 1] = "abstract" end
		if v.anon then kinds[#kinds + 1] = "anon" end
		if v.pair then kinds[#kinds + 1] = "pair" end
		if #kinds ~= 1 then
			fail(place, "give exactly one of path=, abstract=, anon=true or pair=true%s", #kinds > 1 and " (got " .. table.concat(kinds, " and ") .. ")" or "")
		end
		local so = { name = name, kind = kinds[1], type = v.type or "stream", backlog = v.backlog }
		if not TYPES[so.type] then fail(place .. ".type", "expected \"stream\", \"dgram\" or \"seqpacket\", got %s", tostring(v.type)) end
		if v.backlog ~= nil and (type(v.backlog) ~= "number" or v.backlog < 0) then fail(place .. ".backlog", "expected a number >= 0") end
		if so.kind == "path" then
			if type(v.path) ~= "string" or v.path == "" then fail(place .. ".path", "expected a file name (relative to the run directory) or an absolute path") end
			so.path = v.path
		elseif so.kind == "abstract" then
			if v.abstract == true then
				so.abstract = true -- a unique name is made at run time
			elseif type(v.abstract) == "string" and v.abstract ~= "" then
				so.abstract = v.abstract:gsub("^@", "")
			else
				fail(place .. ".abstract", "expected a name or true (a unique name made at run time)")
			end
		end
		def.sockets[name] = so
	end
end

local function check_pipes(def, spec)
	local p = spec.pipes
	if p == nil then return end
	if type(p) ~= "table" then fail("pipes", "expected a table {name = {}}, got %s", type(p)) end
	for _, name in ipairs(sorted_keys(p)) do
		local place = "pipes." .. tostring(name)
		check_name(place, name)
		if type(p[name]) ~= "table" then fail(place, "expected a table ({} is enough), got %s", type(p[name])) end
		check_fields(place, p[name], {})
		if def.sockets[name] then fail(place, "the name is also used by sockets.%s", name) end
		def.pipes[name] = { name = name }
	end
end

-- resolve turns a reference ("api", "api.addr", "logs.w", "link.a",
-- "null") into {obj=, kind=, part=}.
local function resolve(def, place, ref)
	if type(ref) ~= "string" then
		fail(place, "expected a name such as \"api\", \"api.addr\", \"logs.w\", \"link.a\" or \"null\", got %s", type(ref))
	end
	if ref == "null" then return { text = ref, kind = "null" } end
	local base, part = ref:match("^([^.]+)%.(.+)$")
	base = base or ref
	local so, pi = def.sockets[base], def.pipes[base]
	if part == nil then
		if so then
			if so.kind == "pair" then fail(place, "socket %q is a pair: name an end, %q or %q", base, base .. ".a", base .. ".b") end
			return { text = ref, obj = base, kind = "socket", part = "sock" }
		end
		if pi then fail(place, "%q is a pipe: name an end, %q or %q", base, base .. ".r", base .. ".w") end
		fail(place, "no socket named %q%s", base, suggest(base, def.sockets))
	end
	if part == "r" or part == "w" then
		if pi then return { text = ref, obj = base, kind = "pipe", part = part } end
		if so then fail(place, "%q is a socket, not a pipe: .r and .w are pipe ends", base) end
		fail(place, "no pipe named %q%s", base, suggest(base, def.pipes))
	elseif part == "a" or part == "b" then
		if so and so.kind == "pair" then return { text = ref, obj = base, kind = "socket", part = part } end
		if so then fail(place, "socket %q is not a pair: .a and .b are ends of pair=true sockets", base) end
		if pi then fail(place, "%q is a pipe: name an end, %q or %q", base, base .. ".r", base .. ".w") end
		fail(place, "no socket named %q%s", base, suggest(base, def.sockets))
	elseif part == "addr" then
		if so and so.kind == "anon" then return { text = ref, obj = base, kind = "socket", part = "addr" } end
		if so then fail(place, "socket %q is not anonymous: only anon=true sockets have an address handle", base) end
		fail(place, "no socket named %q%s", base, suggest(base, def.sockets))
	end
	fail(place, "unknown end %q (pipes have .r and .w, pairs .a and .b, anonymous sockets .addr)", "." .. part)
end

local function check_ready(def, p, place, v)
	if v == nil then return nil end
	if v == "notify" then v = { notify = true } end
	if type(v) ~= "table" then fail(place, "expected a table such as {notify = true}, {connect = \"api\"} or {output = \"pattern\"}, got %s", type(v)) end
	check_fields(place, v, READY_FIELDS)
	local r = { timeout = positive(place .. ".timeout", v.timeout) or M.DEFAULT_READY_TIMEOUT }
	local kinds = {}
	if v.notify then kinds[#kinds + 1] = "notify" end
	if v.notify_fd ~= nil then kinds[#kinds + 1] = "notify_fd" end
	if v.connect ~= nil then kinds[#kinds + 1] = "connect" end
	if v.output ~= nil or v.stdout ~= nil or v.stderr ~= nil then kinds[#kinds + 1] = "output" end
	if #kinds ~= 1 then
		fail(place, "give exactly one of notify=true, notify_fd=N, connect=\"socket\" or output=/stdout=/stderr=\"pattern\"%s", #kinds > 1 and " (got " .. table.concat(kinds, " and ") .. ")" or "")
	end
	r.kind = kinds[1]
	if r.kind == "notify_fd" then
		local n = v.notify_fd
		if type(n) ~= "number" or n ~= math.floor(n) or n < 3 then fail(place .. ".notify_fd", "expected a descriptor number >= 3, got %s", tostring(n)) end
		if p.fds[n] then fail(place .. ".notify_fd", "fd %d is already mapped by fds[%d]", n, n) end
		r.fd = n
	elseif r.kind == "connect" then
		local so = def.sockets[v.connect]
		if type(v.connect) ~= "string" or not so then
			fail(place .. ".connect", "no socket named %s%s", type(v.connect) == "string" and string.format("%q", v.connect) or tostring(v.connect), type(v.connect) == "string" and suggest(v.connect, def.sockets) or "")
		end
		if so.kind == "pair" then fail(place .. ".connect", "socket %q is a pair; nothing can connect to it", v.connect) end
		r.socket = v.connect
	elseif r.kind == "output" then
		local n = (v.output and 1 or 0) + (v.stdout and 1 or 0) + (v.stderr and 1 or 0)
		if n > 1 then fail(place, "give one of output=, stdout= or stderr=") end
		r.stream = v.stdout and "stdout" or v.stderr and "stderr" or "output"
		r.pattern = patterns(place .. "." .. r.stream, v.output or v.stdout or v.stderr)[1]
	end
	return r
end

-- check_id applies proc.spawn's own rule for a uid or gid (fdwire.check:
-- the range uid_t holds, (uid_t)-1 refused as "no change"), so a spec and
-- a spawn refuse the same ids with the same words.
local function check_id(place, v, what, names)
	if type(v) == "number" then
		local n, why = require("fdwire.check").integer(v, what)
		if not n then fail(place, "%s", why) end
		return n
	end
	fail(place, "expected a %s (a number%s), got %s", what, names and " or a name" or "", type(v))
end

-- check_cred reads uid=, gid= and groups= as proc.spawn does: a uid is a
-- number or a user name (resolved now, so a typo fails the spec), a gid a
-- number or a group name, groups a list of gids. proc.spawn applies them
-- (setgroups, setgid, setuid in the child before exec).
local function check_cred(p, place, v)
	if v.uid ~= nil then
		if type(v.uid) == "string" then
			local ok, u = pcall(user.lookup, v.uid)
			if not ok then fail(place .. ".uid", "no user %q", v.uid) end
			p.uid = v.uid
			p.uid_num = u.uid
		else
			p.uid = check_id(place .. ".uid", v.uid, "uid", true)
		end
	end
	if v.gid ~= nil then
		if type(v.gid) == "string" then
			if v.gid == "" then fail(place .. ".gid", "expected a group name, got an empty string") end
			p.gid = v.gid
		else
			p.gid = check_id(place .. ".gid", v.gid, "gid", true)
		end
	end
	if v.groups ~= nil then
		if type(v.groups) ~= "table" then fail(place .. ".groups", "expected a list of gids {n, ...}, got %s", type(v.groups)) end
		local n = 0
		for k in pairs(v.groups) do
			n = n + 1
			if type(k) ~= "number" or k ~= math.floor(k) or k < 1 then fail(place .. ".groups", "expected a list {gid, ...}; key %s is not a list index", tostring(k)) end
		end
		if n ~= #v.groups then fail(place .. ".groups", "expected a list {gid, ...} without holes") end
		if n > 65536 then fail(place .. ".groups", "%d groups: the kernel takes at most 65536 (NGROUPS_MAX)", n) end
		p.groups = {}
		for i, g in ipairs(v.groups) do p.groups[i] = check_id(place .. ".groups[" .. i .. "]", g, "gid") end
	end
end

local function check_proc(def, name, v)
	local place = "procs." .. tostring(name)
	check_name(place, name)
	if type(v) ~= "table" then fail(place, "expected a table {argv = {...}, ...}, got %s", type(v)) end
	check_fields(place, v, PROC_FIELDS)
	local p = { name = name, fds = {}, listen = {}, depends = {} }
	if v.argv ~= nil and v.sh ~= nil then fail(place, "give argv= or sh=, not both") end
	if v.sh ~= nil then
		if type(v.sh) ~= "string" then fail(place .. ".sh", "expected a shell command string, got %s", type(v.sh)) end
		p.argv = { "/bin/sh", "-c", v.sh }
	else
		if type(v.argv) ~= "table" or #v.argv == 0 then fail(place .. ".argv", "expected a non-empty list {\"program\", \"arg\", ...}, got %s", type(v.argv) == "table" and "an empty table" or type(v.argv)) end
		p.argv = require("fdwire.topo.native").table(#v.argv, 0) -- not {}: see native.table
		for i, a in ipairs(v.argv) do
			if type(a) ~= "string" and type(a) ~= "number" then fail(place .. ".argv[" .. i .. "]", "expected a string, got %s", type(a)) end
			p.argv[i] = tostring(a)
		end
	end
	if v.env ~= nil then
		if type(v.env) ~= "table" then fail(place .. ".env", "expected a table {KEY = \"value\"}, got %s", type(v.env)) end
		p.env = {}
		for k, val in pairs(v.env) do
			if type(k) ~= "string" or k == "" or k:find("=") then fail(place .. ".env", "keys are variable names, got %s", tostring(k)) end
			if type(val) ~= "string" and type(val) ~= "number" then fail(place .. ".env." .. k, "expected a string, got %s", type(val)) end
			p.env[k] = tostring(val)
		end
	end
	if v.cwd ~= nil and type(v.cwd) ~= "string" then fail(place .. ".cwd", "expected a directory path, got %s", type(v.cwd)) end
	p.cwd = v.cwd
	if v.fds ~= nil then
		if type(v.fds) ~= "table" then fail(place .. ".fds", "expected a table {[n] = \"name\"}, got %s", type(v.fds)) end
		for _, k in ipairs(sorted_keys(v.fds)) do
			local fplace = place .. ".fds[" .. tostring(k) .. "]"
			if type(k) ~= "number" or k ~= math.floor(k) or k < 0 then fail(fplace, "descriptor numbers are integers >= 0") end
			p.fds[k] = resolve(def, fplace, v.fds[k])
		end
	end
	if v.stdin ~= nil then
		if p.fds[0] then fail(place .. ".stdin", "fds[0] is already mapped") end
		p.fds[0] = resolve(def, place .. ".stdin", v.stdin)
	end
	if v.listen ~= nil then
		local l = v.listen
		if type(l) == "string" then l = { l } end
		if type(l) ~= "table" then fail(place .. ".listen", "expected a list of socket names, got %s", type(l)) end
		for i, sname in ipairs(l) do
			local lplace = place .. ".listen[" .. i .. "]"
			local ref = resolve(def, lplace, sname)
			if ref.kind ~= "socket" or ref.part ~= "sock" then fail(lplace, "activation passes listening sockets; %q is not one", sname) end
			local n = 2 + i
			if p.fds[n] then fail(lplace, "activation puts it at fd %d, which fds[%d] already maps", n, n) end
			p.fds[n] = ref
			p.listen[i] = sname
		end
	end
	check_cred(p, place, v)
	isolate.check_proc(p, place, v, fail)
	p.ready = check_ready(def, p, place .. ".ready", v.ready)
	if v.depends_on ~= nil then
		local d = v.depends_on
		if type(d) == "string" then d = { d } end
		if type(d) ~= "table" then fail(place .. ".depends_on", "expected {\"name\", ...} or {name = \"condition\"}, got %s", type(d)) end
		for k, c in pairs(d) do
			local dname, cond = k, c
			if type(k) == "number" then dname, cond = c, nil end
			if type(dname) ~= "string" then fail(place .. ".depends_on", "expected process names, got %s", type(dname)) end
			local dplace = place .. ".depends_on." .. dname
			if cond ~= nil and (type(cond) ~= "string" or not CONDS[cond]) then
				fail(dplace, "condition must be \"started\", \"ready\" or \"exited\", got %s", type(cond) == "string" and string.format("%q", cond) or tostring(cond))
			end
			p.depends[#p.depends + 1] = { name = dname, cond = cond and CONDS[cond], place = dplace }
		end
		table.sort(p.depends, function(a, b) return a.name < b.name end)
	end
	if v.expect ~= nil then
		if type(v.expect) ~= "table" then fail(place .. ".expect", "expected a table {exit = 0} or {signal = \"TERM\"}, got %s", type(v.expect)) end
		check_fields(place .. ".expect", v.expect, EXPECT_FIELDS)
		local e = {}
		if v.expect.exit ~= nil and v.expect.signal ~= nil then fail(place .. ".expect", "give exit= or signal=, not both") end
		if v.expect.exit ~= nil then
			local x = v.expect.exit
			if type(x) ~= "number" or x ~= math.floor(x) or x < 0 or x > 255 then fail(place .. ".expect.exit", "expected an exit code 0-255, got %s", tostring(x)) end
			e.exit = x
		end
		if v.expect.signal ~= nil then
			local s = v.expect.signal
			if type(s) ~= "string" then fail(place .. ".expect.signal", "expected a signal name such as \"TERM\", got %s", type(s)) end
			s = s:upper():gsub("^SIG", "")
			-- The one table of signal names is runtime/sys's.
			if not require("fdwire.topo.native").signal_number(s) then fail(place .. ".expect.signal", "unknown signal %q", v.expect.signal) end
			e.signal = "SIG" .. s
		end
		e.stdout = patterns(place .. ".expect.stdout", v.expect.stdout)
		e.stderr = patterns(place .. ".expect.stderr", v.expect.stderr)
		p.expect = e
	else
		p.expect = {}
	end
	-- A process with an exit or signal expectation must end on its own;
	-- the others are services, stopped by the teardown.
	p.must_exit = p.expect.exit ~= nil or p.expect.signal ~= nil
	p.timeout = positive(place .. ".timeout", v.timeout)
	return p
end

-- order sorts processes so each comes after what it depends on (ties by
-- name), rejects cycles, and gives each its level (0 for no dependency).
local function order(def)
	local names = sorted_keys(def.procs)
	local state, out = {}, {}
	local function visit(n, path)
		if state[n] == "done" then return end
		if state[n] == "visiting" then
			local cyc, on = {}, false
			for _, x in ipairs(path) do
				if x == n then on = true end
				if on then cyc[#cyc + 1] = x end
			end
			cyc[#cyc + 1] = n
			fail("procs." .. cyc[1] .. ".depends_on", "dependency cycle %s", table.concat(cyc, " -> "))
		end
		state[n] = "visiting"
		path[#path + 1] = n
		local lvl = 0
		for _, d in ipairs(def.procs[n].depends) do
			visit(d.name, path)
			lvl = math.max(lvl, def.procs[d.name].level + 1)
		end
		path[#path] = nil
		def.procs[n].level = lvl
		state[n] = "done"
		out[#out + 1] = n
	end
	for _, n in ipairs(names) do visit(n, {}) end
	def.order = out
end

-- define validates spec and returns the definition (a spec that already
-- is a definition is returned as is).
function M.define(spec)
	if type(spec) == "table" and spec.__topo_def then return spec end
	if type(spec) ~= "table" then util.errorf("topo.define", "EINVAL", "bad argument #1 (spec): expected a table, got " .. type(spec)) end
	check_fields("spec", spec, TOP_FIELDS)
	local def = { __topo_def = true, sockets = {}, pipes = {}, procs = {} }
	if spec.name ~= nil and type(spec.name) ~= "string" then fail("name", "expected a string, got %s", type(spec.name)) end
	def.name = spec.name or "topology"
	def.timeout = positive("timeout", spec.timeout)
	if spec.grace ~= nil and (type(spec.grace) ~= "number" or spec.grace < 0) then fail("grace", "expected a number of seconds >= 0, got %s", tostring(spec.grace)) end
	def.grace = spec.grace or M.DEFAULT_GRACE
	if spec.dir ~= nil and type(spec.dir) ~= "string" then fail("dir", "expected a directory path, got %s", type(spec.dir)) end
	def.dir = spec.dir
	isolate.check_top(def, spec, fail)
	check_sockets(def, spec)
	check_pipes(def, spec)
	if type(spec.procs) ~= "table" or next(spec.procs) == nil then
		fail("procs", "expected a table of processes {name = {argv = {...}}}, got %s", type(spec.procs) == "table" and "an empty table" or type(spec.procs))
	end
	for _, name in ipairs(sorted_keys(spec.procs)) do
		def.procs[name] = check_proc(def, name, spec.procs[name])
	end
	-- Cross-references: dependencies, who holds what.
	local used = {}
	for _, name in ipairs(sorted_keys(def.procs)) do
		local p = def.procs[name]
		for _, d in ipairs(p.depends) do
			local dp = def.procs[d.name]
			if not dp then fail(d.place, "no process named %q%s", d.name, suggest(d.name, def.procs)) end
			if d.name == name then fail(d.place, "a process cannot depend on itself") end
			if d.cond == nil then d.cond = dp.ready and "ready" or "started" end
			if d.cond == "ready" and not dp.ready then fail(d.place, "%q has no ready= check, so it is never \"ready\" (use \"started\" or give it ready=)", d.name) end
		end
		for _, ref in pairs(p.fds) do
			if ref.obj then used[ref.obj] = true end
		end
	end
	for name, so in pairs(def.sockets) do
		-- A socket some process is handed is made by fdwire; one nobody is
		-- handed is only an address that a process binds itself.
		so.created = used[name] or false
		if not so.created and (so.kind == "anon" or so.kind == "pair") then
			fail("sockets." .. name, "%s socket is not given to any process (map it in some procs.NAME.fds)", so.kind == "anon" and "the anonymous" or "the pair")
		end
	end
	for name in pairs(def.pipes) do
		if not used[name] then fail("pipes." .. name, "the pipe is not given to any process (map \"%s.r\" or \"%s.w\" in some procs.NAME.fds)", name, name) end
	end
	for _, name in ipairs(sorted_keys(def.procs)) do
		local r = def.procs[name].ready
		if r and r.kind == "connect" and def.sockets[r.socket].created then
			fail("procs." .. name .. ".ready.connect", "socket %q is made by fdwire and handed over as an fd, so a connect succeeds before the process runs; use notify, notify_fd or output readiness", r.socket)
		end
	end
	order(def)
	return def
end

return M
