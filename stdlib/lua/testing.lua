-- fdwire.testing: `fdwire test FILES...`. Each file runs in its own fdwire
-- process (so files cannot disturb each other) with its own $TMPDIR, at
-- most --jobs at a time; each test in a file runs in turn, with a fresh
-- directory, and any topology it started is torn down when it ends. The
-- last line is "N passed, N failed".
local args = require("fdwire.tools.args")
local native = require("fdwire.topo.native")

local M = {}

M.spec = {
	name = "test",
	usage = "fdwire test [options] FILES...",
	about = "Runs test files. A test file calls test(\"name\", function(t) ... end) for each test;\n" ..
		"t has assertions (t:ok, t:eq, t:match, t:fails, t:fail), t:dir() (a fresh directory),\n" ..
		"t:cleanup(fn) and t:up(spec). Files run in parallel, each in its own process and $TMPDIR.",
	options = {
		{ "j", "jobs", arg = "N", int = true, min = 1, default = 4, help = "files run at once" },
		{ "v", "verbose", help = "echo the topologies' output and print passing tests' logs" },
		{ nil, "run", arg = "PATTERN", help = "run only tests whose name matches the Lua pattern" },
		{ nil, "timeout", arg = "SECS", number = true, default = 60, help = "time limit per test" },
		{ nil, "one", help = "(internal) run the single FILE in this process" },
	},
	positional = { 1, nil, names = "FILES" },
	exits = {
		{ 0, "every test passed" },
		{ 1, "a test failed, or a file could not run" },
		{ 2, "bad command line" },
	},
}

local T = {}
T.__index = T
M._T = T -- its methods are the documented T:* (luabind/topobind)

local function fmt(v)
	if type(v) == "string" then return string.format("%q", v) end
	return tostring(v)
end

-- An assertion failure ends the test: it raises a string with the place.
function T:fail(msg) error(msg or "failed", 2) end

function T:ok(v, msg, ...)
	if not v then
		if select("#", ...) > 0 then msg = string.format(msg, ...) end
		if type(msg) == "table" then msg = tostring(msg) end
		error(msg or "expected a true value, got " .. fmt(v), 2)
	end
	return v
end

function T:eq(got, want, msg)
	if got ~= want then error((msg and msg .. ": " or "") .. "expected " .. fmt(want) .. ", got " .. fmt(got), 2) end
end

function T:match(s, pat, msg)
	if type(s) ~= "string" or not s:find(pat) then
		error((msg and msg .. ": " or "") .. fmt(s) .. " does not match " .. fmt(pat), 2)
	end
end

-- T:fails(fn, pattern) expects fn to raise an error whose text matches
-- pattern (a Lua pattern, matched against tostring(err)) and returns it.
function T:fails(fn, pat)
	local ok, err = pcall(fn)
	if ok then error("expected an error" .. (pat and " matching " .. fmt(pat) or "") .. ", got none", 2) end
	local s = tostring(err)
	if pat and not s:find(pat) then error("error " .. fmt(s) .. " does not match " .. fmt(pat), 2) end
	return err
end

function T:log(...)
	local parts = {}
	for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
	self.logs[#self.logs + 1] = table.concat(parts, "\t")
end

function T:dir() return self.tmp end

function T:cleanup(fn) self.cleanups[#self.cleanups + 1] = fn end

-- T:up(spec, opts) is topo.up; the topology is torn down when the test ends.
function T:up(spec, opts)
	opts = opts or {}
	if opts.echo == nil and self.verbose then opts.echo = true end
	return topo.up(spec, opts)
end

local function run_file(file, opts)
	local tests = {}
	local env = setmetatable({}, { __index = _G })
	env.test = function(name, fn)
		if type(name) ~= "string" or type(fn) ~= "function" then
			error("test(name, function(t) ... end): expected a name and a function", 2)
		end
		tests[#tests + 1] = { name = name, fn = fn }
	end
	_G.test = env.test
	local chunk, err = loadfile(file)
	if not chunk then
		print("FAIL " .. file .. ": " .. tostring(err))
		return 0, 1
	end
	setfenv(chunk, env)
	local ok, lerr = pcall(chunk)
	if not ok then
		print("FAIL " .. file .. ": " .. tostring(lerr))
		return 0, 1
	end
	local passed, failed = 0, 0
	for _, tc in ipairs(tests) do
		if not opts.run or tc.name:find(opts.run) then
			local t = setmetatable({ name = tc.name, logs = {}, cleanups = {}, verbose = opts.verbose }, T)
			local guard
			t.tmp, guard = native.mkdtemp("fdwire-test")
			local tops = {}
			local watch = function(top) tops[#tops + 1] = top end
			topo._watch(watch)
			local t0 = native.now()
			local ok2, terr = pcall(task.timeout, opts.timeout, tc.fn, t)
			topo._unwatch(watch)
			for i = #tops, 1, -1 do
				if not tops[i].outcome then pcall(tops[i].down, tops[i]) end
			end
			for i = #t.cleanups, 1, -1 do
				local okc, cerr = pcall(t.cleanups[i])
				if not okc and ok2 then ok2, terr = false, "cleanup: " .. tostring(cerr) end
			end
			guard:close()
			local dt = native.now() - t0
			if ok2 then
				passed = passed + 1
				print(string.format("ok   %s: %s (%.2fs)", file, tc.name, dt))
				if opts.verbose then for _, l in ipairs(t.logs) do print("    " .. l) end end
			else
				failed = failed + 1
				print(string.format("FAIL %s: %s (%.2fs)", file, tc.name, dt))
				-- (a local first: gopher-lua 1.1.2 crashes on a for-in over a
				-- method call on a parenthesised concatenation with a call in it)
				local text = tostring(terr) .. "\n"
				for line in text:gmatch("([^\n]*)\n") do print("    " .. line) end
				for _, l in ipairs(t.logs) do print("    log: " .. l) end
			end
		end
	end
	return passed, failed
end

-- parent: runs each file as `fdwire test --one FILE` with its own $TMPDIR
-- and prints each file's output as a block when that file is done.
local function run_parent(files, opts)
	local exe = native.exe()
	local passed, failed = 0, 0
	local queue = {}
	for i, f in ipairs(files) do queue[i] = f end
	local function one(file)
		local tmp, guard = native.mkdtemp("fdwire-testfile")
		local r, w = fd.pipe()
		local argv = { exe, "test", "--one", "--timeout", tostring(opts.timeout), file }
		if opts.verbose then table.insert(argv, 3, "-v") end
		if opts.run then table.insert(argv, 3, "--run=" .. opts.run) end
		local env = {}
		for _, kv in ipairs(native.environ()) do
			if not kv:match("^TMPDIR=") then env[#env + 1] = kv end
		end
		env[#env + 1] = "TMPDIR=" .. tmp
		argv.env = env
		argv.fds = { [1] = w, [2] = w }
		local ok, p = pcall(proc.spawn, argv)
		w:close()
		local out = {}
		if ok then
			while true do
				local s = r:read()
				if not s then break end
				out[#out + 1] = s
			end
		end
		r:close()
		local code = ok and p:wait() or tostring(p)
		guard:close()
		local text = table.concat(out)
		local fp, ff = text:match("(%d+) passed, (%d+) failed\n?$")
		if fp then
			text = text:gsub("%d+ passed, %d+ failed\n?$", "")
			passed, failed = passed + tonumber(fp), failed + tonumber(ff)
		else
			failed = failed + 1
			text = text .. string.format("FAIL %s: the test process ended without a summary (%s)\n", file, tostring(code))
		end
		fd.stdout:write(text)
	end
	local workers = {}
	for _ = 1, math.min(opts.jobs, #files) do
		workers[#workers + 1] = task.spawn(function()
			while #queue > 0 do one(table.remove(queue, 1)) end
		end)
	end
	if #workers > 0 then task.wait((table.unpack or unpack)(workers)) end
	print(string.format("%d passed, %d failed", passed, failed))
	return failed > 0 and 1 or 0
end

function M.main(argv)
	local opts, files = args.parse(M.spec, argv)
	if not opts then return files end
	if opts.one then
		local p, f = 0, 0
		for _, file in ipairs(files) do
			local a, b = run_file(file, opts)
			p, f = p + a, f + b
		end
		print(string.format("%d passed, %d failed", p, f))
		return f > 0 and 1 or 0
	end
	return run_parent(files, opts)
end

return M
