-- fdwire.tools.args: the command-line parser every tool shares, driven by
-- a declarative spec that is also the source of the tools' --help, man
-- pages and shell completion (docs/tools.md, "Option specs").
--
-- A spec is plain data:
--   { name = "send",                        -- fdwire send
--     usage = "fdwire send [options] SOCKSPEC",
--     about = "...", details = "...",       -- help paragraphs
--     options = {
--       { long = "fd", short = "f", arg = "FD", type = "int", min = 0,
--         list = true, comma = true, help = "..." },
--       { long = "timeout", short = "t", arg = "SECS", type = "duration", default = 10, help = "..." },
--       { long = "pass", arg = "WHAT", values = { "listener", "connections" }, help = "..." },
--       { long = "accept", short = "a", help = "..." },           -- a flag (no arg)
--       { long = "fd", arg = { "N", "SOCKSPEC" }, type = "int", list = true }, -- two values
--       { long = "pidfd-getfd", key = "dup", help = "..." },     -- alias: sets opts.dup
--       { long = "stdin", arg = "SOCKSPEC", key = "fd", list = true, fixed = 0 }, -- appends {0, v}
--       { long = "fdname", arg = "NAME", list = true, split = ":" },
--     },
--     positional = { min = 1, max = 1, names = "SOCKSPEC" },
--     command = "required" | "optional",    -- COMMAND [ARGS...] follows
--     terminators = { "--", "--run" },      -- what ends the options before COMMAND
--     exits = { { 0, "..." }, { "N", "COMMAND's status" }, { 130, "..." }, ... },
--     standalone = { "version" },           -- keys that need no positional/COMMAND
--   }
-- type is "string" (default), "int", "number" or "duration"; numbers are
-- read by this module (decimal, optional fraction and exponent: 1e3, 2.5,
-- 0.1e1; no hex, no inf/nan). int: an exact integer within [min, max]
-- (max defaults to 2^31-1). duration: non-negative seconds, 0 meaning
-- "do not wait"; inf, infinity and values too large for the clock mean
-- math.huge ("forever"). positive = true refuses 0 itself.
-- values: the accepted words. The option's key in opts is key, else long
-- with - turned into _.
--
-- Short options take -fN or -f N, long ones --fd=N or --fd N, and a long
-- option may be shortened to any unique prefix (--block for --blocking).
-- Flags group (-aE X is -a -E X). -h/--help prints the help; an unknown
-- option is an error with "did you mean". parse(spec, argv) returns opts,
-- positional, command; or nil, status after printing the help (0) or a
-- usage error (2).
local M = {}

M.USAGE = 2
M.INT_MAX = 2147483647
-- Seconds beyond this are "forever": more than a monotonic clock in
-- nanoseconds (int64) can hold.
M.DURATION_MAX = 9.2e9

-- Shared exit rows: every tool can be ended by these signals (the CLI
-- ends a run cleanly on HUP, INT, QUIT and TERM).
M.EXIT_SIGHUP = { 129, "ended by SIGHUP" }
M.EXIT_SIGINT = { 130, "ended by SIGINT" }
M.EXIT_SIGQUIT = { 131, "ended by SIGQUIT" }
M.EXIT_SIGTERM = { 143, "ended by SIGTERM" }

-- M.with_signals returns rows followed by the four signal rows (suffix,
-- when given, is added to each: " before COMMAND ran").
function M.with_signals(rows, suffix)
	local out = {}
	for _, r in ipairs(rows) do out[#out + 1] = r end
	for _, r in ipairs { M.EXIT_SIGHUP, M.EXIT_SIGINT, M.EXIT_SIGQUIT, M.EXIT_SIGTERM } do
		out[#out + 1] = { r[1], r[2] .. (suffix or "") }
	end
	return out
end

local INF = 1 / 0

local function long_of(o) return o.long or o[2] end
local function short_of(o) return o.short or o[1] end
local function key(o) return o.key or ((long_of(o) or short_of(o)):gsub("-", "_")) end
local function kind(o)
	return o.type or (o.int and "int") or (o.number and "number") or "string"
end

-- M.options returns the spec's options in the named form (long, short,
-- type filled in), for tools that generate documentation from specs.
function M.options(spec)
	local out = {}
	for _, o in ipairs(spec.options) do
		local c = {}
		for k, v in pairs(o) do if type(k) == "string" then c[k] = v end end
		c.long, c.short, c.type, c.key = long_of(o), short_of(o), kind(o), key(o)
		c.int, c.number = nil, nil
		out[#out + 1] = c
	end
	return out
end

-- M.parse_number reads a decimal number with optional sign, fraction and
-- exponent ("1e3", "-2.5", ".5", "5."), or returns nil. gopher-lua's
-- tonumber does not read exponents and reads hex; neither is wanted here.
function M.parse_number(s)
	if type(s) ~= "string" then return nil end
	local sign, int, frac, exp = s:match("^([+-]?)(%d*)%.?(%d*)$")
	if not sign then
		sign, int, frac, exp = s:match("^([+-]?)(%d*)%.?(%d*)[eE]([+-]?%d+)$")
		if not sign then return nil end
	end
	if int == "" and frac == "" then return nil end
	local digits = int .. frac
	local scale = -#frac + (tonumber(exp or "0") or 0)
	-- strip leading zeros so large-but-zero mantissas stay exact
	digits = digits:gsub("^0+", "")
	if digits == "" then return 0 end
	local m = tonumber(digits)
	local v
	if scale >= 0 then
		if scale > 400 then v = INF else v = m * 10 ^ scale end
	else
		if -scale > 400 then v = 0 else v = m / 10 ^ (-scale) end
	end
	if sign == "-" then v = -v end
	return v
end

local function convert(o, v)
	local k = kind(o)
	if o.values then
		for _, w in ipairs(o.values) do if w == v then return v end end
		return nil, "takes " .. table.concat(o.values, ", ") .. "; got " .. string.format("%q", v)
	end
	if k == "string" then return v end
	local n = M.parse_number(v)
	if k == "int" then
		if not n or n ~= n or n == INF or n == -INF or n ~= math.floor(n) then
			return nil, "expects an integer, got " .. string.format("%q", v)
		end
		local min, max = o.min or -M.INT_MAX - 1, o.max or M.INT_MAX
		if n < min or n > max then
			return nil, string.format("must be from %d to %d, got %s", min, max, v)
		end
		return n
	end
	if k == "duration" and (v == "inf" or v == "infinity") then return math.huge end
	if not n then return nil, "expects a number, got " .. string.format("%q", v) end
	if k == "duration" then
		if n < 0 then return nil, "expects non-negative seconds, got " .. v end
		if o.min and n < o.min then return nil, "must be at least " .. o.min end
		if o.positive and n == 0 then return nil, "must be more than 0 (inf: never)" end
		if n > M.DURATION_MAX then return math.huge end
		return n
	end
	if n == INF or n == -INF then return nil, "expects a finite number, got " .. v end
	if o.min and n < o.min then return nil, "must be at least " .. o.min end
	if o.max and n > o.max then return nil, "must be at most " .. o.max end
	return n
end

-- M.help formats the --help text from the spec.
function M.help(spec)
	local out = { "usage: " .. spec.usage, "" }
	if spec.about then out[#out + 1] = spec.about; out[#out + 1] = "" end
	out[#out + 1] = "options:"
	local rows = {}
	for _, o in ipairs(spec.options) do
		local names = {}
		if short_of(o) then names[#names + 1] = "-" .. short_of(o) end
		if long_of(o) then names[#names + 1] = "--" .. long_of(o) end
		local left = table.concat(names, ", ")
		if o.arg then
			left = left .. " " .. (type(o.arg) == "table" and table.concat(o.arg, " ") or o.arg)
		end
		local help = o.help or ""
		if o.values then help = help .. " (" .. table.concat(o.values, "|") .. ")" end
		if o.default ~= nil and not o.hide_default then help = help .. " (default " .. tostring(o.default) .. ")" end
		rows[#rows + 1] = { left, help }
	end
	rows[#rows + 1] = { "-h, --help", "show this help" }
	local w = 0
	for _, r in ipairs(rows) do if #r[1] > w then w = #r[1] end end
	for _, r in ipairs(rows) do
		local help = r[2]:gsub("\n", "\n  " .. string.rep(" ", w + 2))
		out[#out + 1] = "  " .. r[1] .. string.rep(" ", w - #r[1] + 2) .. help
	end
	out[#out + 1] = ""
	out[#out + 1] = "Long options may be shortened to a unique prefix (--block for --blocking)."
	if spec.details then out[#out + 1] = ""; out[#out + 1] = spec.details end
	if spec.exits then
		out[#out + 1] = ""
		out[#out + 1] = "exit status:"
		for _, e in ipairs(spec.exits) do
			out[#out + 1] = string.format("  %-5s %s", tostring(e[1]), e[2])
		end
	end
	return table.concat(out, "\n") .. "\n"
end

-- M.usage_error prints msg with a pointer to --help and returns status 2.
function M.usage_error(spec, msg)
	io.stderr:write("fdwire " .. spec.name .. ": " .. msg .. "\n" ..
		"try 'fdwire " .. spec.name .. " --help'\n")
	return M.USAGE
end

-- M.suggest returns the candidate closest to word when close enough:
-- fdwire.check's rule (one edit distance for every "did you mean").
function M.suggest(word, candidates)
	local ok, check = pcall(require, "fdwire.check")
	if ok and check.suggest then return check.suggest(word, candidates) end
	return nil
end

-- find_long resolves a long name: exact, else a unique prefix.
local function find_long(spec, name)
	local matches, longs = {}, {}
	for _, o in ipairs(spec.options) do
		local l = long_of(o)
		if l then
			longs[#longs + 1] = l
			if l == name then return o end
			if l:sub(1, #name) == name then matches[#matches + 1] = o end
		end
	end
	if ("help"):sub(1, #name) == name and #matches == 0 then return "help" end
	if #matches == 1 then return matches[1] end
	if #matches > 1 then
		local names = {}
		for _, o in ipairs(matches) do names[#names + 1] = "--" .. long_of(o) end
		return nil, "option --" .. name .. " is ambiguous: " .. table.concat(names, ", ")
	end
	longs[#longs + 1] = "help"
	local s = M.suggest(name, longs)
	return nil, "unknown option --" .. name .. (s and ("; did you mean --" .. s .. "?") or "")
end

local function find_short(spec, c)
	for _, o in ipairs(spec.options) do
		if short_of(o) == c then return o end
	end
end

function M.parse(spec, argv)
	local opts, pos, command = {}, {}, nil
	for _, o in ipairs(spec.options) do
		local k = key(o)
		if o.list then opts[k] = opts[k] or {} elseif o.default ~= nil then opts[k] = o.default end
	end
	local terminators = {}
	for _, t in ipairs(spec.terminators or {}) do terminators[t] = true end
	local i = 1
	local function store(o, v)
		local k = key(o)
		if o.fixed ~= nil then v = { o.fixed, v } end
		if o.list then table.insert(opts[k], v) else opts[k] = v end
	end
	local function take(o, name, inline)
		local n = type(o.arg) == "table" and #o.arg or 1
		local vals = {}
		if inline then vals[1] = inline; n = n - 1 end
		for _ = 1, n do
			i = i + 1
			if argv[i] == nil or terminators[argv[i]] then
				return nil, name .. " needs " .. (type(o.arg) == "table" and table.concat(o.arg, " ") or o.arg) ..
					(argv[i] and (" before " .. argv[i]) or "")
			end
			vals[#vals + 1] = argv[i]
		end
		local parts = { vals[1] }
		if o.comma or o.split then
			parts = {}
			local sep = o.split or ","
			for p in (vals[1] .. sep):gmatch("(.-)" .. sep:gsub("%p", "%%%0")) do parts[#parts + 1] = p end
		end
		for _, p in ipairs(parts) do
			if p == "" and (o.comma or o.split) and kind(o) ~= "string" then
				return nil, name .. " has an empty item in " .. string.format("%q", vals[1])
			end
			local c, err = convert(o, p)
			if c == nil then return nil, name .. " " .. err end
			if type(o.arg) == "table" then
				local v = { c }
				for j = 2, #vals do v[j] = vals[j] end
				store(o, v)
			elseif not (o.split and p == "") then
				store(o, c)
			end
		end
		return true
	end
	local function set_flag(o)
		if o.list then table.insert(opts[key(o)], true) else opts[key(o)] = true end
	end
	while i <= #argv do
		local a = argv[i]
		if terminators[a] then
			command = {}
			local from = i + 1
			if a ~= "--" and argv[from] == "--" then from = from + 1 end -- "--run -- CMD"
			for j = from, #argv do command[#command + 1] = argv[j] end
			break
		elseif a == "-h" then
			io.write(M.help(spec))
			return nil, 0
		elseif a:sub(1, 2) == "--" and #a > 2 then
			local name, inline = a:match("^%-%-([^=]+)=(.*)$")
			name = name or a:sub(3)
			local o, why = find_long(spec, name)
			if o == "help" then
				io.write(M.help(spec))
				return nil, 0
			end
			if not o then return nil, M.usage_error(spec, why) end
			local shown = "--" .. long_of(o)
			if o.arg then
				local ok, err = take(o, shown, inline)
				if not ok then return nil, M.usage_error(spec, err) end
			elseif inline then
				return nil, M.usage_error(spec, shown .. " takes no value")
			else
				set_flag(o)
			end
		elseif a:sub(1, 1) == "-" and #a > 1 and not M.parse_number(a) then
			local j = 2
			while j <= #a do
				local c = a:sub(j, j)
				local o = find_short(spec, c)
				if not o then
					return nil, M.usage_error(spec, "unknown option -" .. c)
				end
				if o.arg then
					local rest = a:sub(j + 1)
					local ok, err = take(o, "-" .. c, rest ~= "" and rest or nil)
					if not ok then return nil, M.usage_error(spec, err) end
					break
				end
				set_flag(o)
				j = j + 1
			end
		elseif spec.command and spec.positional and #pos >= (spec.positional.max or spec.positional[2] or math.huge)
			and not spec.needs_separator then
			-- COMMAND without --: the first word after the positionals.
			command = {}
			for j = i, #argv do command[#command + 1] = argv[j] end
			break
		else
			pos[#pos + 1] = a
		end
		i = i + 1
	end
	for _, k in ipairs(spec.standalone or {}) do
		if opts[k] then return opts, pos, command end -- --version needs nothing else
	end
	if spec.positional then
		local min = spec.positional.min or spec.positional[1] or 0
		local max = spec.positional.max or spec.positional[2]
		if #pos < min then return nil, M.usage_error(spec, "missing " .. spec.positional.names) end
		if max and #pos > max then
			return nil, M.usage_error(spec, "unexpected argument " .. string.format("%q", pos[max + 1]))
		end
	end
	if spec.command == "required" and (command == nil or #command == 0) then
		return nil, M.usage_error(spec, "missing COMMAND")
	end
	return opts, pos, command
end

return M
