-- fdwire.topo.json: the little JSON and XML writing that `fdwire up --json`,
-- `fdwire test --json` and `--junit` need. Process output can be any
-- bytes, and both formats need valid UTF-8, so invalid sequences become
-- U+FFFD; XML 1.0 cannot hold most control characters at all, so they
-- become U+FFFD there too.
local M = {}

-- utf8 returns s with every invalid UTF-8 sequence replaced by U+FFFD.
function M.utf8(s)
	if not s:find("[\128-\255]") then return s end
	local out, i, n = {}, 1, #s
	while i <= n do
		local c = s:byte(i)
		local len = c < 0x80 and 1 or (c >= 0xC2 and c <= 0xDF) and 2 or (c >= 0xE0 and c <= 0xEF) and 3
			or (c >= 0xF0 and c <= 0xF4) and 4 or 0
		local ok = len > 0 and i + len - 1 <= n
		if ok and len > 1 then
			for k = i + 1, i + len - 1 do
				local b = s:byte(k)
				if b < 0x80 or b > 0xBF then ok = false break end
			end
			local b2 = s:byte(i + 1)
			if ok and c == 0xE0 and b2 < 0xA0 then ok = false end -- overlong
			if ok and c == 0xED and b2 > 0x9F then ok = false end -- surrogates
			if ok and c == 0xF0 and b2 < 0x90 then ok = false end -- overlong
			if ok and c == 0xF4 and b2 > 0x8F then ok = false end -- beyond U+10FFFF
		end
		if ok then
			out[#out + 1] = s:sub(i, i + len - 1)
			i = i + len
		else
			out[#out + 1] = "\239\191\189"
			i = i + 1
		end
	end
	return table.concat(out)
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function str(s)
	s = M.utf8(s)
	return '"' .. s:gsub('[%c"\\]', function(c)
		return escapes[c] or string.format("\\u%04x", c:byte())
	end) .. '"'
end

local function is_array(t)
	local n = 0
	for _ in pairs(t) do n = n + 1 end
	if n == 0 then return true end
	for i = 1, n do if t[i] == nil then return false end end
	return true
end

-- encode writes v (nil, booleans, numbers, strings, tables) as JSON. A
-- table with keys 1..n is an array (an empty table is []), any other an
-- object with its keys sorted; functions and userdata are left out.
function M.encode(v)
	local tv = type(v)
	if v == nil then return "null" end
	if tv == "boolean" then return tostring(v) end
	if tv == "number" then
		if v ~= v or v == math.huge or v == -math.huge then return "null" end
		if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
		return string.format("%.10g", v)
	end
	if tv == "string" then return str(v) end
	if tv ~= "table" then return "null" end
	local out = {}
	if is_array(v) then
		for i = 1, #v do out[i] = M.encode(v[i]) end
		return "[" .. table.concat(out, ",") .. "]"
	end
	local keys = {}
	for k, x in pairs(v) do
		local tx = type(x)
		if tx ~= "function" and tx ~= "userdata" and tx ~= "thread" then keys[#keys + 1] = tostring(k) end
	end
	table.sort(keys)
	for _, k in ipairs(keys) do
		local x = v[k]
		if x == nil then x = v[tonumber(k)] end
		out[#out + 1] = str(k) .. ":" .. M.encode(x)
	end
	return "{" .. table.concat(out, ",") .. "}"
end

-- xml escapes text for an XML 1.0 attribute or element.
function M.xml(s)
	s = M.utf8(tostring(s))
	s = s:gsub("[%z\1-\8\11\12\14-\31]", "\239\191\189")
	return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }))
end

-- result turns a topology result into plain data for JSON.
function M.result(r)
	if not r then return nil end
	local procs = {}
	for name, p in pairs(r.procs) do
		local e = {}
		for k, v in pairs(p) do e[k] = v end
		procs[name] = e
	end
	return {
		name = r.name, ok = r.ok, code = r.code, reason = r.reason, failures = r.failures, notes = r.notes,
		duration = r.duration, signal = r.signal, procs = procs, order = r.order,
	}
end

return M
