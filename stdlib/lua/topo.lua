-- fdwire.topo (the global topo): declarative topologies. A spec names
-- sockets, pipes and processes; topo.up runs it and returns a Topology.
-- See docs/topo.md.
local spec = require("fdwire.topo.spec")
local run = require("fdwire.topo.run")
local report = require("fdwire.topo.report")
-- fdwire.topo.graph and fdwire.topo.verify are loaded when first used:
-- compiling them took ~2-3 ms of every run that never draws or verifies.
local util = require("fdwire.util")

local M = {}

-- topo.exe is the path of the running fdwire, for processes written as
-- fdwire -e "lua code" in a spec.
M.exe = require("fdwire.topo.native").exe()

local Topology = {}
Topology.__index = Topology
M._Topology = Topology -- its methods are the documented Topology:* (luabind/topobind)
Topology.__tostring = function(top)
	return string.format("<topology %s %s>", top.def.name, top.outcome and (top.outcome.ok and "ok" or "failed") or "running")
end

-- Hooks for fdwire.testing: called with each topology topo.up starts.
local watchers = {}
function M._watch(fn) watchers[#watchers + 1] = fn end
function M._unwatch(fn)
	for i, f in ipairs(watchers) do if f == fn then table.remove(watchers, i) return end end
end

-- topo.define(spec) -> definition; raises a spec error naming the place.
function M.define(s) return spec.define(s) end

-- topo.up(spec, opts) -> Topology, once every process has started and
-- those with a ready check are ready (or the run already ended).
function M.up(s, opts)
	if opts ~= nil and type(opts) ~= "table" then
		util.errorf("topo.up", "EINVAL", "bad argument #2 (opts): expected a table, got " .. type(opts))
	end
	local known = { echo = true, signals = true, expect_failure = true }
	for k in pairs(opts or {}) do
		if not known[k] then
			util.errorf("topo.up", "EINVAL", "opts." .. tostring(k) .. ": unknown option" .. (type(k) == "string" and spec.suggest(k, known) or "") .. " (known: echo, expect_failure, signals)")
		end
	end
	local def = spec.define(s)
	local top = run.new(def, opts or {})
	top = setmetatable(top, Topology)
	top.task = task.spawn(run.run, top)
	for _, w in ipairs(watchers) do w(top) end
	run.wait_up(top)
	return top
end

local function the_proc(top, fn, name)
	local P = top.procs[name]
	if not P then
		util.errorf(fn, "EINVAL", string.format("no process named %q in topology %s", tostring(name), top.def.name))
	end
	return P
end

-- Topology:proc(name) -> Proc (nil when it has not started).
function Topology:proc(name) return the_proc(self, "Topology:proc", name).proc end

-- Topology:stdout(name) / :stderr(name) -> what it wrote so far.
function Topology:stdout(name) return table.concat(the_proc(self, "Topology:stdout", name).out.stdout) end
function Topology:stderr(name) return table.concat(the_proc(self, "Topology:stderr", name).out.stderr) end

-- Topology:status(name) -> {state=, pid=, ready=, status=, ...} now.
function Topology:status(name)
	local P = the_proc(self, "Topology:status", name)
	if self.outcome then return self.outcome.procs[name] end
	local n
	if P.proc and P.spec.ready and P.spec.ready.kind == "notify" then n = report.notify_info(P.proc:notices()) end
	return {
		name = name, state = P.state, pid = P.pid, ready = P.ready or false,
		status = P.status and run.status_string(P.status) or nil,
		exit = P.status and P.status.code, signal = P.status and P.status.signal,
		notify = n,
	}
end

-- Topology:fdstore(name) -> fds, names: the descriptors the process sent
-- with FDSTORE=1 (sd_notify) so far and their FDNAME= values; the caller
-- owns them. What nobody takes is closed by the teardown.
function Topology:fdstore(name)
	local P = the_proc(self, "Topology:fdstore", name)
	run.collect_fdstore(P)
	if not P.stored then return {}, {} end
	local fds, names = P.stored.fds, P.stored.names
	P.stored.fds, P.stored.names = {}, {}
	return fds, names
end

-- Topology:dir() -> the run directory (removed by the teardown).
function Topology:dir() return self.rundir end

-- Topology:result() -> the result once the run has ended, else nil.
function Topology:result() return self.outcome end

-- Topology:wait(opts) -> ok, result: waits for the run to end (every
-- process that must exit has exited, a failure, the timeout, a signal),
-- after the teardown.
function Topology:wait(opts)
	local r = self.task:wait(opts)
	return r.ok, r
end

-- Topology:down() -> ok, result: ends the run now and tears it down.
function Topology:down(opts)
	if not self.outcome then run.push(self, { t = "down" }) end
	return self:wait(opts)
end

function Topology:graph() return require("fdwire.topo.graph").dot(self.def, self) end

function Topology:verify(opts) return require("fdwire.topo.verify").run(self, opts) end

-- topo.graph(spec) -> Graphviz DOT text.
function M.graph(s) return require("fdwire.topo.graph").dot(spec.define(s)) end

-- topo.summary(result) -> the printed per-process summary.
function M.summary(r)
	if type(r) ~= "table" or type(r.procs) ~= "table" then
		util.argerror("topo.summary", 1, "result", "expected the result of a topology's :wait(), got " .. type(r))
	end
	return report.summary(r)
end

-- Loading topology files. A file is a Lua chunk that returns its spec,
-- or ends with `return topo.run_main(spec)` so that `fdwire FILE` runs
-- it; while topo.load reads a file, run_main only hands the spec back.
local loading = 0

-- load_error turns gopher-lua's parse message ("F line:4(column:2) near
-- 'b':   syntax error", or "F at EOF:   syntax error" with no line at
-- all) into "F:4:2: syntax error near 'b'" / "F:12: syntax error at the
-- end of the file (an unclosed {, ( or block?)".
local function load_error(path, err)
	local msg = tostring(err)
	local line, col, near, what = msg:match("line:(%d+)%(column:(%d+)%) near '(.-)':%s*(.-)%s*$")
	if line then return string.format("%s:%s:%s: %s near '%s'", path, line, col, what, near) end
	what = msg:match("at EOF:%s*(.-)%s*$")
	if what then
		local n, f = 0, io.open(path)
		if f then
			for _ in f:lines() do n = n + 1 end
			f:close()
		end
		return string.format("%s:%d: %s at the end of the file (an unclosed {, ( or block?)", path, n, what)
	end
	return msg
end

-- topo.load(path) -> definition.
function M.load(path)
	if type(path) ~= "string" then util.errorf("topo.load", "EINVAL", "bad argument #1 (path): expected a file name, got " .. type(path)) end
	if not fs.exists(path) then util.errorf("topo.load", "ENOENT", path .. ": no such file") end
	local chunk, err = loadfile(path)
	if not chunk then util.errorf("topo.load", "EINVAL", load_error(path, err)) end
	loading = loading + 1
	local ok, v = pcall(chunk)
	loading = loading - 1
	if not ok then error(v, 0) end
	if type(v) ~= "table" then
		util.errorf("topo.load", "EINVAL", path .. ": a topology file returns its spec (return spec) or ends with return topo.run_main(spec)")
	end
	return spec.define(v)
end

-- topo.loading() tells a topology file whether topo.load (fdwire up, test,
-- graph) is reading it, or it runs as a script.
function M.loading() return loading > 0 end

-- topo.run_main(spec, opts) runs the topology as `fdwire up` would,
-- prints the summary, and ends the script with the run's exit status;
-- under topo.load it returns the spec instead.
function M.run_main(s, opts)
	if loading > 0 then return s end
	local code = M._up_main(spec.define(s), opts)
	if code ~= 0 then os.exit(code) end
	return code
end

-- _up_main runs a definition with output echo and signal handling and
-- returns the exit status (shared by run_main and `fdwire up`).
function M._up_main(def, opts)
	opts = opts or {}
	local echo = not opts.quiet
	if echo and opts.json then echo = function(line) fd.stderr:write(line .. "\n") end end
	local top = M.up(def, { echo = echo, signals = true })
	local _, r = top:wait()
	if opts.json then
		fd.stderr:write(report.summary(r) .. "\n")
		fd.stdout:write(require("fdwire.topo.json").encode(require("fdwire.topo.json").result(r)) .. "\n")
	else
		print(report.summary(r))
	end
	return r.code
end

return M
