-- fdwire.topo.report: the result of a run (per-process states, failures,
-- exit code) and its printed summary.
local M = {}

function M.ready_desc(rd)
	if rd.kind == "notify" then return "notify READY=1" end
	if rd.kind == "notify_fd" then return "a newline on fd " .. rd.fd end
	if rd.kind == "connect" then return string.format("connect %q", rd.socket) end
	return string.format("%s matches %q", rd.stream, rd.pattern)
end

local function status_string(st)
	if not st then return "-" end
	if st.code ~= nil then return "exit " .. st.code end
	return "signal " .. tostring(st.signal)
end

local function quote(s, max)
	max = max or 200
	if #s > max then s = "..." .. s:sub(-max) end
	return (string.format("%q", s):gsub("\\\n", "\\n"))
end

-- notify_info is what a result says about a process's sd_notify talk.
function M.notify_info(n)
	if not n then return nil end
	return {
		status = n.status, messages = n.messages, dropped = n.dropped, watchdog = n.watchdog,
		reloading = n.reloading, stopping = n.stopping, vars = n.vars,
	}
end

local meta = {}
meta.__index = meta

local STREAMS = { "stdout", "stderr" } -- made once, not per process

-- result builds the result table after teardown. Output expectations are
-- checked here, on everything each process wrote.
function M.result(top)
	local t_end = require("fdwire.topo.native").now()
	local r = setmetatable({
		name = top.def.name, reason = top.ending or "completed", failures = top.failures, notes = top.notes,
		duration = t_end - top.t0, dir = top.rundir, procs = {}, order = top.def.order, signal = top.signal,
		cgroup = top.cgroup ~= nil, cgroup_error = top.cgroup_error,
	}, meta)
	for _, name in ipairs(top.def.order) do
		local P = top.procs[name]
		local e = P.spec.expect
		for _, stream in ipairs(STREAMS) do
			if e[stream] and P.state ~= "pending" then
				local text = table.concat(P.out[stream])
				for _, pat in ipairs(e[stream]) do
					if not text:find(pat) then
						r.failures[#r.failures + 1] = string.format("%s: %s does not match %q; it was %s", name, stream, pat, quote(text))
					end
				end
			end
		end
		local info = {
			name = name, pid = P.pid, ready_after = P.t_ready and P.t_ready - P.t_start,
			stopped_by_teardown = P.stopped_by_teardown or false, killed = P.killed or false,
			status = status_string(P.status), stdout = table.concat(P.out.stdout), stderr = table.concat(P.out.stderr),
		}
		if P.status then
			info.exit, info.signal = P.status.code, P.status.signal
		end
		info.notify = M.notify_info(P.notices)
		if P.stored and #P.stored.names > 0 then info.fdstore_closed = P.stored.names end
		if P.t_start then info.duration = (P.t_exit or t_end) - P.t_start end
		if P.state == "pending" then
			info.state = "not started"
		elseif P.state == "failed" then
			info.state = "failed to start"
		elseif P.killed then
			info.state = "killed"
		elseif P.stopped_by_teardown then
			info.state = "stopped"
		elseif P.exited then
			info.state = "exited"
		else
			info.state = "running"
		end
		r.procs[name] = info
	end
	r.ok = #r.failures == 0 and r.reason ~= "interrupted" and r.reason ~= "setup"
	if r.reason == "setup" or top.setup_failed then
		r.code = 3
	elseif r.reason == "interrupted" then
		r.code = 128 + (top.signal or 2)
	elseif #r.failures > 0 then
		r.code = 1
	else
		r.code = 0
	end
	return r
end

local function secs(v) return v and string.format("%.2fs", v) or "-" end

-- summary renders a result for people.
function M.summary(r)
	local out = {}
	local verdict = r.ok and "ok" or (r.reason == "interrupted" and "interrupted" or "FAILED")
	out[#out + 1] = string.format("topology %s: %s (%s) in %.2fs", r.name, verdict, r.reason, r.duration)
	local rows = { { "PROC", "PID", "STATE", "STATUS", "DURATION", "READY" } }
	for _, name in ipairs(r.order) do
		local p = r.procs[name]
		rows[#rows + 1] = { name, p.pid and tostring(p.pid) or "-", p.state, p.status, secs(p.duration), secs(p.ready_after) }
	end
	local w = {}
	for _, row in ipairs(rows) do
		for i, c in ipairs(row) do w[i] = math.max(w[i] or 0, #c) end
	end
	for _, row in ipairs(rows) do
		local cells = {}
		for i, c in ipairs(row) do cells[i] = c .. string.rep(" ", w[i] - #c) end
		out[#out + 1] = "  " .. table.concat(cells, "  "):gsub("%s+$", "")
	end
	for _, name in ipairs(r.order) do
		local n = r.procs[name].notify
		if n and (n.status or n.messages > 1 or n.dropped > 0) then
			local extra = {}
			if n.watchdog > 0 then extra[#extra + 1] = n.watchdog .. " watchdog" end
			if n.reloading then extra[#extra + 1] = "reloading" end
			if n.stopping then extra[#extra + 1] = "stopping" end
			if n.dropped > 0 then extra[#extra + 1] = n.dropped .. " dropped" end
			out[#out + 1] = string.format("  %s STATUS=%s (%d notify message(s)%s)", name, n.status or "-", n.messages,
				#extra > 0 and ", " .. table.concat(extra, ", ") or "")
		end
		local fs = r.procs[name].fdstore_closed
		if fs then out[#out + 1] = string.format("  %s: %d FDSTORE descriptor(s) closed at teardown (%s)", name, #fs, table.concat(fs, ", ")) end
	end
	local failed = {}
	for _, f in ipairs(r.failures) do
		out[#out + 1] = "  FAIL " .. f
		local who = f:match("^([%w_%-]+):")
		if who and r.procs[who] then failed[who] = true end
	end
	-- The last lines a failed process wrote to stderr usually say why.
	for _, name in ipairs(r.order) do
		local err = failed[name] and r.procs[name].stderr or ""
		if err ~= "" then
			local lines = {}
			for line in err:gmatch("[^\n]+") do lines[#lines + 1] = line end
			out[#out + 1] = "  " .. name .. " stderr (last lines):"
			for i = math.max(1, #lines - 4), #lines do out[#out + 1] = "    " .. lines[i] end
		end
	end
	for _, n in ipairs(r.notes) do out[#out + 1] = "  note " .. n end
	return table.concat(out, "\n")
end

meta.__tostring = M.summary

return M
