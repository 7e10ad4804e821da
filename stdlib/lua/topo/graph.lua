-- fdwire.topo.graph: a topology as Graphviz DOT. Processes are nodes;
-- each socket and pipe is an edge between the processes holding its ends,
-- labelled with the object's name and the fd number at each end. An
-- object with no process on one side (a socket a process binds itself, a
-- pipe end nobody reads) is drawn as a small node of its own. Dependencies
-- are dashed grey edges.
local M = {}

local function q(s)
	return '"' .. tostring(s):gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", "\\n") .. '"'
end

local function sorted(t)
	local ks = {}
	for k in pairs(t) do ks[#ks + 1] = k end
	table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
	return ks
end

local function short_cmd(argv)
	local prog = argv[1]:match("([^/]+)$") or argv[1]
	if prog == "sh" and argv[2] == "-c" and argv[3] then prog = "sh -c " .. argv[3] end
	if #prog > 32 then prog = prog:sub(1, 29) .. "..." end
	return prog
end

-- holders returns, for object name, {part = {{proc=, fd=}...}}.
local function holders(def)
	local h = {}
	for _, pname in ipairs(def.order) do
		local p = def.procs[pname]
		for _, n in ipairs(sorted(p.fds)) do
			local ref = p.fds[n]
			if ref.obj then
				h[ref.obj] = h[ref.obj] or {}
				h[ref.obj][ref.part] = h[ref.obj][ref.part] or {}
				table.insert(h[ref.obj][ref.part], { proc = pname, fd = n })
			end
		end
	end
	return h
end

-- dot(def, top) renders def; with a running or finished topology top,
-- node labels also show pid and state.
function M.dot(def, top)
	local out = {}
	local function w(s) out[#out + 1] = s end
	w("digraph " .. q(def.name) .. " {")
	w("  rankdir=LR;")
	w('  node [shape=box, style="rounded,filled", fillcolor="#f5f5ff", fontname="Helvetica", fontsize=11];')
	w('  edge [fontname="Helvetica", fontsize=10];')
	for _, name in ipairs(def.order) do
		local p = def.procs[name]
		local label = name .. "\n" .. short_cmd(p.argv)
		if top and top.procs[name] then
			local P = top.procs[name]
			local st = top.outcome and top.outcome.procs[name]
			label = label .. "\n" .. (P.pid and ("pid " .. P.pid .. " ") or "") .. (st and st.state or P.state)
		end
		w("  " .. q(name) .. " [label=" .. q(label) .. "];")
	end
	local h = holders(def)
	local function edge(a, b, label, ta, hb, extra)
		w(string.format("  %s -> %s [label=%s, taillabel=%s, headlabel=%s%s];", q(a), q(b), q(label), q(ta), q(hb), extra or ""))
	end
	local function objnode(id, label, shape)
		w(string.format('  %s [label=%s, shape=%s, style=filled, fillcolor="#fff8e0", fontsize=9];', q(id), q(label), shape))
	end
	for _, name in ipairs(sorted(def.sockets)) do
		local so = def.sockets[name]
		local hh = h[name] or {}
		local desc = name .. " (" .. so.kind .. (so.type ~= "stream" and " " .. so.type or "") .. ")"
		if so.kind == "pair" then
			local as, bs = hh.a or {}, hh.b or {}
			if #as > 0 and #bs > 0 then
				for _, a in ipairs(as) do
					for _, b in ipairs(bs) do edge(a.proc, b.proc, desc, a.fd, b.fd, ", dir=both, color=\"#3060c0\"") end
				end
			else
				local id = "sock:" .. name
				objnode(id, desc, "ellipse")
				for _, x in ipairs(as) do edge(x.proc, id, name .. ".a", x.fd, "", ", dir=both") end
				for _, x in ipairs(bs) do edge(x.proc, id, name .. ".b", x.fd, "", ", dir=both") end
			end
		else
			local ls, cs = hh.sock or {}, hh.addr or {}
			if #ls > 0 and #cs > 0 then
				-- clients (address handle holders) connect to the listener
				for _, c in ipairs(cs) do
					for _, l in ipairs(ls) do edge(c.proc, l.proc, desc, c.fd, l.fd, ", color=\"#208040\"") end
				end
			else
				local id = "sock:" .. name
				local where = so.path or (so.abstract and "@" .. (so.abstract == true and "(unique)" or so.abstract)) or ""
				objnode(id, desc .. (where ~= "" and "\n" .. where or ""), "ellipse")
				for _, l in ipairs(ls) do edge(id, l.proc, "listener", "", l.fd, ", color=\"#208040\"") end
				for _, c in ipairs(cs) do edge(c.proc, id, "address", c.fd, "", ", color=\"#208040\"") end
			end
		end
	end
	for _, name in ipairs(sorted(def.pipes)) do
		local hh = h[name] or {}
		local ws, rs = hh.w or {}, hh.r or {}
		if #ws > 0 and #rs > 0 then
			for _, a in ipairs(ws) do
				for _, b in ipairs(rs) do edge(a.proc, b.proc, name .. " (pipe)", a.fd, b.fd, ", color=\"#a04000\"") end
			end
		else
			local id = "pipe:" .. name
			objnode(id, name .. " (pipe)", "cds")
			for _, a in ipairs(ws) do edge(a.proc, id, name .. ".w", a.fd, "", ", color=\"#a04000\"") end
			for _, b in ipairs(rs) do edge(id, b.proc, name .. ".r", "", b.fd, ", color=\"#a04000\"") end
		end
	end
	for _, name in ipairs(def.order) do
		for _, d in ipairs(def.procs[name].depends) do
			w(string.format('  %s -> %s [style=dashed, color=gray50, fontcolor=gray40, label=%s, constraint=false];', q(name), q(d.name), q("after " .. d.cond)))
		end
	end
	w("}")
	return table.concat(out, "\n") .. "\n"
end

return M
