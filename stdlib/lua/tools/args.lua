-- fdwire.tools.args: the command-line parser every tool shares.
--
-- A spec names the tool and lists its options:
--   { name = "send", usage = "fdwire send [options] SOCKSPEC", about = "...",
--     options = {
--       { "f", "fd", arg = "FD", list = true, int = true, help = "..." },
--       { nil, "timeout", arg = "SECS", number = true, default = 10, help = "..." },
--       { "p", "pass", arg = "WHAT", values = { "listener", "connections" }, ... },
--       { "a", "accept", help = "..." },                   -- a flag
--       { "f", "fd", arg = { "N", "SOCKSPEC" }, ... },     -- two values
--     },
--     terminators = { "--", "--run" },  -- what ends the options (COMMAND follows)
--     exits = { { 0, "..." }, ... },
--   }
-- Short options take -fN or -f N, long ones --fd=N or --fd N; flags may be
-- grouped (-aE X is -a -E X). -h/--help prints the help.
-- parse(spec, argv) returns opts, positional, command; or nil, status after
-- printing the help (status 0) or a usage error (status 2).
local M = {}

M.USAGE = 2

local function key(o) return (o[2] or o[1]):gsub("-", "_") end

local function find(spec, long, short)
	for _, o in ipairs(spec.options) do
		if (long and o[2] == long) or (short and o[1] == short) then return o end
	end
end

-- M.help formats the --help text.
function M.help(spec)
	local out = { "usage: " .. spec.usage, "" }
	if spec.about then out[#out + 1] = spec.about; out[#out + 1] = "" end
	out[#out + 1] = "options:"
	local rows = {}
	for _, o in ipairs(spec.options) do
		local names = {}
		if o[1] then names[#names + 1] = "-" .. o[1] end
		if o[2] then names[#names + 1] = "--" .. o[2] end
		local left = table.concat(names, ", ")
		if o.arg then
			left = left .. " " .. (type(o.arg) == "table" and table.concat(o.arg, " ") or o.arg)
		end
		local help = o.help or ""
		if o.default ~= nil and not o.hide_default then help = help .. " (default " .. tostring(o.default) .. ")" end
		rows[#rows + 1] = { left, help }
	end
	rows[#rows + 1] = { "-h, --help", "show this help" }
	local w = 0
	for _, r in ipairs(rows) do if #r[1] > w then w = #r[1] end end
	for _, r in ipairs(rows) do
		out[#out + 1] = "  " .. r[1] .. string.rep(" ", w - #r[1] + 2) .. r[2]
	end
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

local function convert(o, v)
	if o.values then
		for _, ok in ipairs(o.values) do
			if v == ok then return v end
		end
		return nil, "takes " .. table.concat(o.values, " or ") .. ", got " .. string.format("%q", v)
	end
	if o.int then
		local n = tonumber(v)
		if not n or n ~= math.floor(n) then return nil, "expects an integer, got " .. string.format("%q", v) end
		if o.min and n < o.min then return nil, "must be at least " .. o.min end
		return n
	elseif o.number then
		local n = tonumber(v)
		if not n then return nil, "expects a number, got " .. string.format("%q", v) end
		if o.min and n < o.min then return nil, "must be at least " .. o.min end
		return n
	end
	return v
end

-- M.usage_error prints msg with a pointer to --help and returns status 2.
function M.usage_error(spec, msg)
	io.stderr:write("fdwire " .. spec.name .. ": " .. msg .. "\n" ..
		"try 'fdwire " .. spec.name .. " --help'\n")
	return M.USAGE
end

function M.parse(spec, argv)
	local opts, pos, command = {}, {}, nil
	for _, o in ipairs(spec.options) do
		if o.list then opts[key(o)] = {} elseif o.default ~= nil then opts[key(o)] = o.default end
	end
	local terminators = {}
	for _, t in ipairs(spec.terminators or {}) do terminators[t] = true end
	local i = 1
	local function take(o, name, inline)
		local n = type(o.arg) == "table" and #o.arg or 1
		local vals = {}
		if inline then vals[1] = inline; n = n - 1 end
		for _ = 1, n do
			i = i + 1
			if argv[i] == nil then return nil, name .. " needs " .. (type(o.arg) == "table" and table.concat(o.arg, " ") or o.arg) end
			vals[#vals + 1] = argv[i]
		end
		local v
		if type(o.arg) == "table" then
			v = vals
			local c, err = convert(o, vals[1])
			if c == nil then return nil, name .. " " .. err end
			v[1] = c
		else
			local err
			v, err = convert(o, vals[1])
			if v == nil then return nil, name .. " " .. err end
		end
		if o.list then table.insert(opts[key(o)], v) else opts[key(o)] = v end
		if o.also then o.also(opts, v) end
		return true
	end
	local function set_flag(o)
		if o.list then table.insert(opts[key(o)], true) else opts[key(o)] = true end
		if o.also then o.also(opts, true) end
	end
	while i <= #argv do
		local a = argv[i]
		if terminators[a] then
			command = {}
			for j = i + 1, #argv do command[#command + 1] = argv[j] end
			break
		elseif a == "-h" or a == "--help" then
			io.write(M.help(spec))
			return nil, 0
		elseif a:sub(1, 2) == "--" and #a > 2 then
			local name, inline = a:match("^%-%-([^=]+)=(.*)$")
			name = name or a:sub(3)
			local o = find(spec, name, nil)
			if not o then return nil, M.usage_error(spec, "unknown option --" .. name) end
			if o.arg then
				local ok, err = take(o, "--" .. name, inline)
				if not ok then return nil, M.usage_error(spec, err) end
			elseif inline then
				return nil, M.usage_error(spec, "--" .. name .. " takes no value")
			else
				set_flag(o)
			end
		elseif a:sub(1, 1) == "-" and #a > 1 and not a:match("^%-%d") then
			local j = 2
			while j <= #a do
				local c = a:sub(j, j)
				local o = find(spec, nil, c)
				if not o then return nil, M.usage_error(spec, "unknown option -" .. c) end
				if o.arg then
					local rest = a:sub(j + 1)
					local ok, err = take(o, "-" .. c, rest ~= "" and rest or nil)
					if not ok then return nil, M.usage_error(spec, err) end
					break
				end
				set_flag(o)
				j = j + 1
			end
		else
			pos[#pos + 1] = a
		end
		i = i + 1
	end
	if spec.positional then
		local min, max = spec.positional[1], spec.positional[2]
		if #pos < min then return nil, M.usage_error(spec, "missing " .. spec.positional.names) end
		if max and #pos > max then return nil, M.usage_error(spec, "unexpected argument " .. string.format("%q", pos[max + 1])) end
	end
	if spec.command == "required" and (command == nil or #command == 0) then
		return nil, M.usage_error(spec, "missing COMMAND after --")
	end
	return opts, pos, command
end

return M
