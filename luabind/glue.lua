-- Binding glue, run once per runtime before any user code.
-- Arguments: the park mark (the value a blocking binding yields), the list
-- of blocking functions to wrap, the exit-request check, the error
-- metatable, a table where the last error's traceback is kept, and a
-- check whether the calling coroutine runs under a Go context, and the
-- coroutine-free protected call of a blocking binding (protected.go), and
-- the Lua functions compiled on first call (Runtime.LazyLua), and for pcall
-- where the caller cannot yield: the check and a protected call in place.
local PARK, blocking, is_exit, ERRMETA, last, has_context, protected_go, lazy, can_yield, pcall_here = ...

local co_create, co_resume, co_yield, co_status = coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local raw_error, traceback, getinfo, select, type, getmetatable, rawget =
	error, debug.traceback, debug.getinfo, select, type, getmetatable, rawget

-- error() keeps Lua's position prefix and also records a traceback, which
-- the runtime prints when the error ends the script.
function error(e, level)
	level = level or 1
	if type(e) == "string" and level > 0 then
		local info = getinfo(level + 1, "Sl")
		local src = info and (info.short_src or info.source)
		if src and info.currentline and info.currentline > 0 then
			e = src:gsub("^[=@]", "") .. ":" .. info.currentline .. ": " .. e
		end
	end
	last.value, last.traceback = e, traceback("", 2)
	raw_error(e, 0)
end

-- A blocking binding returns (true, results...) when it finished at once
-- and raises when it failed at once; when it parked, the scheduler resumes
-- it with (true, results...) or (false, err). check turns that into
-- results or a raised error.
local function check(ok, ...)
	if ok then return ... end
	local e = ...
	if type(e) == "table" and getmetatable(e) == ERRMETA and rawget(e, "traceback") == nil then
		e.traceback = traceback("", 2)
	end
	raw_error(e, 0)
end

-- A LazyLua function: the first call compiles the real one (which takes
-- its place in the table) and every call tail-calls it.
for _, z in ipairs(lazy) do
	local load = z[3]
	z[1][z[2]] = function(...) return load()(...) end
end

-- rawof maps each wrapper to its binding, for pcall's fast path below.
local rawof = {}
for _, b in ipairs(blocking) do
	local tbl, name = b[1], b[2]
	local raw = tbl[name]
	local wrapper = function(...) return check(raw(...)) end
	tbl[name] = wrapper
	rawof[wrapper] = raw
end

-- tried is check's error half for protected_go's (ok, results...) or
-- (false, err): the error gets its traceback, as check gives it.
local function tried(ok, ...)
	if ok then return true, ... end
	local e = ...
	if type(e) == "table" and getmetatable(e) == ERRMETA and rawget(e, "traceback") == nil then
		e.traceback = traceback("", 2)
	end
	return false, e
end

-- Yield-safe protected calls. gopher-lua breaks when a coroutine yields
-- from inside pcall, and every blocking call yields; so the protected
-- function runs in a coroutine of its own and its parks are passed outward
-- to the scheduler (the approach of Lua 5.1's coxpcall).
--
-- Making a coroutine is most of a pcall's cost (a gopher-lua LState with
-- its stacks), so the coroutines are workers that are reused: a worker
-- runs one function, yields DONE with its results and waits for the next.
-- One that raised is dead and dropped. Idle workers are kept in a small
-- pool and look dead to coroutine.resume/status, as a finished pcall's
-- coroutine would.
local DONE = {}
local POOL_MAX = 16
local pool, npool, idle = {}, 0, {}

local function worker(f, ...)
	return worker(co_yield(DONE, f(...)))
end

local function relay(co, poolable, ok, ...)
	if not ok then return false, ... end
	local first = ...
	if first == DONE then
		if poolable and npool < POOL_MAX then
			npool = npool + 1
			pool[npool] = co
			idle[co] = true
		end
		return true, select(2, ...)
	end
	if first == PARK then
		return relay(co, poolable, co_resume(co, co_yield(PARK)))
	end
	-- a plain coroutine.yield inside pcall: pass it out and back in
	return relay(co, poolable, co_resume(co, co_yield(...)))
end

local function finish(handler, ok, ...)
	if ok then return true, ... end
	local e = ...
	if is_exit(e) then raw_error(e, 0) end -- os.exit is not catchable
	if handler then return false, handler(e) end
	return false, e
end

local function protected(handler, f, ...)
	-- A blocking binding parks only at its end: it needs no coroutine of
	-- its own (protected.go).
	local raw = rawof[f]
	if raw then return finish(handler, tried(protected_go(raw, ...))) end
	-- Inside a for-in iterator or a metamethod the task cannot yield, so
	-- a worker's park could not be passed outward (the VM crashed there):
	-- run f in place; a blocking call in it then waits in place.
	if not can_yield() then return finish(handler, pcall_here(f, ...)) end
	local co
	-- A coroutine made under a context (a REPL statement) inherits that
	-- context and dies with it: such callers get a fresh worker that is
	-- never pooled, and pooled workers serve only context-free callers.
	local poolable = not has_context()
	if poolable and npool > 0 then
		co = pool[npool]
		pool[npool] = nil
		npool = npool - 1
		idle[co] = nil
	else
		co = co_create(worker)
	end
	return finish(handler, relay(co, poolable, co_resume(co, f, ...)))
end

function pcall(f, ...)
	if type(f) ~= "function" and not (getmetatable(f) or {}).__call then
		return false, "attempt to call a " .. type(f) .. " value"
	end
	return protected(nil, f, ...)
end

function xpcall(f, handler, ...)
	return protected(handler, f, ...)
end

-- User coroutines pass the scheduler's parks through, so a blocking call
-- inside coroutine.wrap still parks the task instead of the coroutine.
local function pass(co, ok, ...)
	if ok and co_status(co) ~= "dead" and (...) == PARK then
		return pass(co, co_resume(co, co_yield(PARK)))
	end
	return ok, ...
end

function coroutine.resume(co, ...)
	if idle[co] then return false, "cannot resume dead coroutine" end
	return pass(co, co_resume(co, ...))
end

function coroutine.status(co)
	if idle[co] then return "dead" end
	return co_status(co)
end

function coroutine.wrap(f)
	local co = co_create(f)
	return function(...)
		local function ret(ok, ...)
			if not ok then raw_error((...), 0) end
			return ...
		end
		return ret(pass(co, co_resume(co, ...)))
	end
end

-- task.timeout(seconds, fn, ...): every wait inside fn ends with ETIMEDOUT
-- once the deadline passes.
local push_deadline, pop_deadline = task._push_deadline, task._pop_deadline
task._push_deadline, task._pop_deadline = nil, nil
function task.timeout(seconds, fn, ...)
	push_deadline(seconds, fn) -- checks both: a structured argument error

	local function done(ok, ...)
		pop_deadline()
		if not ok then raw_error((...), 0) end
		return ...
	end
	return done(pcall(fn, ...))
end

-- The first function every task runs; arm keeps the tracebacks of the
-- VM's own errors in it (see task._arm).
local arm = task._arm
task._arm = nil
return function(f, ...) arm() return f(...) end
