-- fdwire.testing: `fdwire test FILES...`. Each file runs in its own fdwire
-- process (so files cannot disturb each other) with its own $TMPDIR, at
-- most --jobs at a time; each test in a file runs in turn, with a fresh
-- directory, and any topology it started is torn down when it ends. The
-- last line is "N passed, N failed".
local args = require("fdwire.tools.args")
local native = require("fdwire.topo.native")
local json = require("fdwire.topo.json")

local M = {}

M.spec = {
	name = "test",
	usage = "fdwire test [options] FILES...",
	about = "Runs test files. A test file calls test(\"name\", function(t) ... end) for each test;\n" ..
		"t has assertions (t:ok, t:eq, t:match, t:fails, t:fail), t:dir() (a fresh directory),\n" ..
		"t:cleanup(fn) and t:up(spec). Files run in parallel, each in its own process and $TMPDIR.\n" ..
		"A topology a test started that fails an expectation fails the test (unless started with\n" ..
		"t:up(spec, {expect_failure = PATTERN})), and so does a task it spawned that raises.\n" ..
		"^C or SIGTERM tears every running test's topologies down in order, then reports.",
	options = {
		{ "j", "jobs", arg = "N", int = true, min = 1, default = 4, help = "files run at once" },
		{ "v", "verbose", help = "echo the topologies' output and print passing tests' logs" },
		{ nil, "run", arg = "PATTERN", help = "run only tests whose name matches the Lua pattern" },
		{ nil, "timeout", arg = "SECS", number = true, default = 60, help = "time limit per test" },
		{ nil, "junit", arg = "FILE", help = "also write a JUnit XML report (one testcase per test) to FILE" },
		{ nil, "json", arg = "FILE", help = "also write one JSON object per test to FILE (- for stdout)" },
		{ nil, "one", help = "(internal) run the FILES in this process" },
		{ nil, "results", arg = "DIR", help = "(internal) with --one, write the reports into DIR" },
	},
	positional = { 1, nil, names = "FILES" },
	exits = {
		{ 0, "every test passed" },
		{ 1, "a test failed, or a file could not run" },
		{ 2, "bad command line" },
		{ "130", "interrupted by SIGINT (143 for SIGTERM), after the teardown" },
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

-- T:up(spec, opts) is topo.up; the topology is torn down when the test
-- ends, and if it failed an expectation the test fails, whether or not
-- the test looked at wait()'s result. opts.expect_failure = true (or a
-- Lua pattern one failure line must match) turns that around: the test
-- then fails unless the topology failed (so).
function T:up(spec, opts)
	local o = {}
	for k, v in pairs(opts or {}) do o[k] = v end
	if o.echo == nil and self.verbose then o.echo = true end
	return topo.up(spec, o)
end

local function is_cancel(e) return type(e) == "table" and e.name == "ECANCELED" end

-- check_topologies turns each topology's outcome into the test's verdict.
local function check_topologies(tops)
	local out = {}
	for _, top in ipairs(tops) do
		local r = top.outcome
		local exp = top.opts and top.opts.expect_failure
		if r and exp then
			if r.ok then
				out[#out + 1] = string.format("topology %s: expected it to fail (expect_failure), but every expectation held", r.name)
			elseif type(exp) == "string" then
				local hit = false
				for _, f in ipairs(r.failures) do if f:find(exp) then hit = true end end
				if not hit then
					out[#out + 1] = string.format("topology %s failed, but no failure matches %q:\n%s", r.name, exp, tostring(r))
				end
			end
		elseif r and not r.ok then
			out[#out + 1] = string.format("topology %s failed:\n%s", r.name, tostring(r))
		end
	end
	return out
end

-- run_test runs one test in a task of its own, so that a background
-- task the test started (through the task global of the test file) that
-- raises can end it at once: the error fails the test.
local function run_test(file, tc, opts, env, state)
	local t = setmetatable({ name = tc.name, logs = {}, cleanups = {}, verbose = opts.verbose }, T)
	local guard
	t.tmp, guard = native.mkdtemp("fdwire-test")
	local tops, bg, bg_errors = {}, {}, {}
	local watch = function(top) tops[#tops + 1] = top end
	topo._watch(watch)
	local test_task
	env.task = setmetatable({
		spawn = function(fn, ...)
			if type(fn) ~= "function" then return task.spawn(fn, ...) end
			local bt
			bt = task.spawn(function(...)
				local res = { pcall(fn, ...) }
				if not res[1] then
					if not is_cancel(res[2]) then
						bg_errors[#bg_errors + 1] = tostring(res[2])
						if test_task and not test_task:done() then pcall(test_task.cancel, test_task) end
					end
					error(res[2], 0)
				end
				return select(2, (table.unpack or unpack)(res))
			end, ...)
			bg[#bg + 1] = bt
			return bt
		end,
	}, { __index = task })
	local t0 = native.now()
	state.current = t
	test_task = task.spawn(function() return task.timeout(opts.timeout, tc.fn, t) end)
	state.test_task = test_task
	local ok2, terr = pcall(task.wait, test_task)
	state.test_task = nil
	topo._unwatch(watch)
	for i = #tops, 1, -1 do
		if not tops[i].outcome then pcall(tops[i].down, tops[i]) end
	end
	for _, bt in ipairs(bg) do
		if not bt:done() then pcall(bt.cancel, bt) end
	end
	for _, bt in ipairs(bg) do pcall(task.wait, bt) end
	local failures = {}
	if state.interrupted then
		failures[#failures + 1] = "interrupted by signal " .. state.interrupted
	end
	if #bg_errors > 0 then
		for _, e in ipairs(bg_errors) do failures[#failures + 1] = "a background task failed: " .. e end
		if not ok2 and not is_cancel(terr) then failures[#failures + 1] = tostring(terr) end
	elseif not ok2 and not (state.interrupted and is_cancel(terr)) then
		failures[#failures + 1] = tostring(terr)
	end
	for i = #t.cleanups, 1, -1 do
		local okc, cerr = pcall(t.cleanups[i])
		if not okc then failures[#failures + 1] = "cleanup: " .. tostring(cerr) end
	end
	if state.interrupted then
		-- Say how each topology was torn down, failed or not.
		for _, top in ipairs(tops) do
			if top.outcome and top.outcome.ok then failures[#failures + 1] = tostring(top.outcome) end
		end
	end
	if #failures == 0 then
		for _, f in ipairs(check_topologies(tops)) do failures[#failures + 1] = f end
	else
		-- Failing already; still say which topologies failed, unless the
		-- test's own error already is that summary.
		for _, f in ipairs(check_topologies(tops)) do
			local dup = false
			for _, g in ipairs(failures) do if f:find(g, 1, true) then dup = true end end
			if not dup then failures[#failures + 1] = f end
		end
	end
	guard:close()
	state.current = nil
	local results = {}
	for i, top in ipairs(tops) do results[i] = json.result(top.outcome) end
	return { file = file, name = tc.name, ok = #failures == 0, duration = native.now() - t0,
		failures = failures, topologies = results, logs = t.logs }
end

local function print_record(rec, opts)
	if rec.ok then
		print(string.format("ok   %s: %s (%.2fs)", rec.file, rec.name, rec.duration))
		if opts.verbose then for _, l in ipairs(rec.logs) do print("    " .. l) end end
	else
		print(string.format("FAIL %s: %s (%.2fs)", rec.file, rec.name, rec.duration))
		-- (a local first: gopher-lua 1.1.2 crashes on a for-in over a
		-- method call on a parenthesised concatenation with a call in it)
		local text = table.concat(rec.failures, "\n") .. "\n"
		for line in text:gmatch("([^\n]*)\n") do print("    " .. line) end
		for _, l in ipairs(rec.logs) do print("    log: " .. l) end
	end
end

local function dirname(p)
	return p:match("^(.*)/[^/]*$") or "."
end

local function run_file(file, opts, state)
	local tests = {}
	local env = setmetatable({}, { __index = _G })
	env.test = function(name, fn)
		if type(name) ~= "string" or type(fn) ~= "function" then
			error("test(name, function(t) ... end): expected a name and a function", 2)
		end
		tests[#tests + 1] = { name = name, fn = fn }
	end
	-- topo.load of a relative path reads it next to the test file.
	local base = dirname(file)
	env.topo = setmetatable({
		load = function(p)
			if type(p) == "string" and p:sub(1, 1) ~= "/" then p = base .. "/" .. p end
			return topo.load(p)
		end,
	}, { __index = function(_, k) return topo[k] end })
	_G.test = env.test
	local records = {}
	local function file_failure(msg)
		print("FAIL " .. file .. ": " .. msg)
		records[#records + 1] = { file = file, name = "(loading the file)", ok = false, duration = 0, failures = { msg }, topologies = {}, logs = {} }
	end
	local chunk, err = loadfile(file)
	if not chunk then
		file_failure(tostring(err))
		return records
	end
	setfenv(chunk, env)
	local ok, lerr = pcall(chunk)
	if not ok then
		file_failure(tostring(lerr))
		return records
	end
	for _, tc in ipairs(tests) do
		if state.interrupted then break end
		if not opts.run or tc.name:find(opts.run) then
			local rec = run_test(file, tc, opts, env, state)
			records[#records + 1] = rec
			print_record(rec, opts)
		end
	end
	return records
end

local function junit_suite(file, records)
	local nfail, total = 0, 0
	for _, r in ipairs(records) do
		if not r.ok then nfail = nfail + 1 end
		total = total + r.duration
	end
	local out = { string.format('  <testsuite name="%s" tests="%d" failures="%d" errors="0" time="%.3f">',
		json.xml(file), #records, nfail, total) }
	for _, r in ipairs(records) do
		out[#out + 1] = string.format('    <testcase classname="%s" name="%s" time="%.3f">', json.xml(file), json.xml(r.name), r.duration)
		if not r.ok then
			local report = table.concat(r.failures, "\n")
			out[#out + 1] = string.format('      <failure message="%s">%s</failure>', json.xml(report:match("^[^\n]*")), json.xml(report))
		end
		if #r.logs > 0 then
			out[#out + 1] = "      <system-out>" .. json.xml(table.concat(r.logs, "\n")) .. "</system-out>"
		end
		out[#out + 1] = "    </testcase>"
	end
	out[#out + 1] = "  </testsuite>"
	return table.concat(out, "\n") .. "\n"
end

local function write_file(path, text)
	local f, err = io.open(path, "w")
	if not f then error("writing " .. path .. ": " .. tostring(err), 0) end
	f:write(text)
	f:close()
end

local function read_file(path)
	local f = io.open(path)
	if not f then return nil end
	local s = f:read("*a")
	f:close()
	return s
end

local SIGNAMES = { [1] = "SIGHUP", [2] = "SIGINT", [3] = "SIGQUIT", [15] = "SIGTERM" }

-- watch_signals: the first SIGINT, SIGTERM, SIGHUP or SIGQUIT calls
-- fn(signo); a second gives up on the ordered teardown (os.exit: the
-- runtime's close still ends the children and removes their files).
local function watch_signals(fn)
	local sfd = require("fdwire.topo.run").watch_signals()
	local t = task.spawn(function()
		local ok, b = pcall(sfd.read, sfd, 1)
		if not (ok and b) then return end
		fn(b:byte())
		local ok2, b2 = pcall(sfd.read, sfd, 1)
		if ok2 and b2 then os.exit(128 + b2:byte()) end
	end)
	return function()
		if not t:done() then pcall(t.cancel, t) end
		pcall(task.wait, t)
		sfd:close()
	end
end

-- parent: runs each file as `fdwire test --one FILE` with its own $TMPDIR
-- (in a session of its own, so a terminal's ^C reaches only the parent,
-- which passes it on as one SIGTERM) and prints each file's output as a
-- block when that file is done.
local function run_parent(files, opts)
	local exe = native.exe()
	-- With --json -, stdout is the JSON; the report goes to stderr.
	local report = opts.json == "-" and fd.stderr or fd.stdout
	local function say(line) report:write(line .. "\n") end
	local passed, failed = 0, 0
	local queue = {}
	for i, f in ipairs(files) do queue[i] = f end
	local running, interrupted = {}, nil
	local junit, jsonl = {}, {}
	local function one(file, idx)
		local tmp, guard = native.mkdtemp("fdwire-testfile")
		-- 0711: a topology process running as another uid can reach its
		-- run directory inside (enter, not list).
		fs.chmod(tmp, tonumber("711", 8))
		local r, w = fd.pipe()
		local argv = { exe, "test", "--one", "--timeout", tostring(opts.timeout), "--results", tmp, file }
		if opts.verbose then table.insert(argv, 3, "-v") end
		if opts.run then table.insert(argv, 3, "--run=" .. opts.run) end
		local env = {}
		for _, kv in ipairs(native.environ()) do
			if not kv:match("^TMPDIR=") then env[#env + 1] = kv end
		end
		env[#env + 1] = "TMPDIR=" .. tmp
		argv.env = env
		argv.fds = { [1] = w, [2] = w }
		argv.setsid = true
		local ok, p = pcall(proc.spawn, argv)
		w:close()
		local out = {}
		if ok then
			running[p] = true
			if interrupted then pcall(p.kill, p, "TERM") end
			while true do
				local s = r:read()
				if not s then break end
				out[#out + 1] = s
			end
		end
		r:close()
		local code = ok and p:wait() or tostring(p)
		if ok then running[p] = nil end
		local text = table.concat(out)
		local fp, ff = text:match("(%d+) passed, (%d+) failed\n?$")
		local xml, js = read_file(tmp .. "/.fdwire-results.xml"), read_file(tmp .. "/.fdwire-results.json")
		guard:close()
		if fp then
			text = text:gsub("%d+ passed, %d+ failed\n?$", "")
			passed, failed = passed + tonumber(fp), failed + tonumber(ff)
		else
			failed = failed + 1
			local msg = string.format("the test process ended without a summary (%s)", tostring(code))
			text = text .. string.format("FAIL %s: %s\n", file, msg)
			local rec = { file = file, name = "(the test process)", ok = false, duration = 0, failures = { msg .. "\n" .. text }, topologies = {}, logs = {} }
			xml = (xml or "") .. junit_suite(file, { rec })
			js = (js or "") .. json.encode(rec) .. "\n"
		end
		junit[idx], jsonl[idx] = xml or "", js or ""
		report:write(text)
	end
	local stop = watch_signals(function(sig)
		interrupted = sig
		queue = {}
		for p in pairs(running) do pcall(p.kill, p, "TERM") end
	end)
	local workers, next_idx = {}, 0
	for _ = 1, math.min(opts.jobs, #files) do
		workers[#workers + 1] = task.spawn(function()
			while #queue > 0 do
				next_idx = next_idx + 1
				local idx = next_idx
				one(table.remove(queue, 1), idx)
			end
		end)
	end
	if #workers > 0 then task.wait((table.unpack or unpack)(workers)) end
	stop()
	if opts.junit then
		write_file(opts.junit, '<?xml version="1.0" encoding="UTF-8"?>\n' ..
			string.format('<testsuites name="fdwire test" tests="%d" failures="%d">\n', passed + failed, failed) ..
			table.concat(junit) .. "</testsuites>\n")
	end
	if opts.json then
		if opts.json == "-" then fd.stdout:write(table.concat(jsonl)) else write_file(opts.json, table.concat(jsonl)) end
	end
	if interrupted then
		say("interrupted by " .. (SIGNAMES[interrupted] or "signal " .. interrupted) .. "; the files still running were told to tear down")
	end
	say(string.format("%d passed, %d failed", passed, failed))
	if interrupted then return 128 + interrupted end
	return failed > 0 and 1 or 0
end

-- one: `fdwire test --one FILES` runs files in this process. A SIGINT or
-- SIGTERM cancels the running test; its topologies are torn down in
-- order (SIGTERM, grace, SIGKILL, cgroup.kill) before the report.
local function run_one(files, opts)
	local state = {}
	local stop = watch_signals(function(sig)
		state.interrupted = SIGNAMES[sig] or tostring(sig)
		state.signo = sig
		if state.test_task and not state.test_task:done() then pcall(state.test_task.cancel, state.test_task) end
	end)
	local p, f = 0, 0
	local xml, js = {}, {}
	for _, file in ipairs(files) do
		if state.interrupted then break end
		local records = run_file(file, opts, state)
		for _, rec in ipairs(records) do
			if rec.ok then p = p + 1 else f = f + 1 end
			js[#js + 1] = json.encode(rec) .. "\n"
		end
		xml[#xml + 1] = junit_suite(file, records)
	end
	stop()
	if opts.results then
		write_file(opts.results .. "/.fdwire-results.xml", table.concat(xml))
		write_file(opts.results .. "/.fdwire-results.json", table.concat(js))
	end
	print(string.format("%d passed, %d failed", p, f))
	if state.signo then return 128 + state.signo end
	return f > 0 and 1 or 0
end

function M.main(argv)
	local opts, files = args.parse(M.spec, argv)
	if not opts then return files end
	if opts.one then return run_one(files, opts) end
	return run_parent(files, opts)
end

return M
