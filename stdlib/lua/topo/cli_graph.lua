-- fdwire.topo.cli_graph: `fdwire graph TOPO.lua [-o FILE.svg|FILE.dot]`.
local args = require("fdwire.tools.args")

local M = {}

M.spec = {
	name = "graph",
	usage = "fdwire graph [-o FILE] TOPO.lua\n" ..
		"       fdwire graph [-o FILE] [--json] [--only] (--pid PID... | --cgroup PATH | --all)",
	about = "Prints a topology file as Graphviz DOT: processes are nodes, sockets and pipes are edges\n" ..
		"labelled with the fd number at each end, dependencies are dashed. With -o FILE.svg (or .png,\n" ..
		".pdf) it runs Graphviz's dot to write the picture; -o FILE.dot writes the DOT text.\n\n" ..
		"With --pid, --cgroup or --all it draws running processes instead, as the kernel connects\n" ..
		"them (/proc/PID/fd and fdinfo, sock_diag's UNIX_DIAG_PEER and accept queues, inet_diag\n" ..
		"for TCP): pipes from writer to reader, unix and TCP connections, listeners with their\n" ..
		"pending connections, terminals; each edge carries the fd numbers at its ends. A process\n" ..
		"outside the selection that holds the other end is drawn dashed.",
	options = {
		{ "o", "output", arg = "FILE", help = "write FILE (.dot, or .svg/.png/.pdf through dot) instead of printing DOT" },
		{ nil, "pid", arg = "PID", list = true, int = true, min = 1,
			help = "draw running process PID and its descendants; repeatable" },
		{ nil, "cgroup", arg = "PATH", help = "draw the processes of cgroup PATH (relative: under /sys/fs/cgroup)" },
		{ nil, "all", help = "draw every process this user can see" },
		{ nil, "only", help = "with --pid: the processes named, not their descendants" },
		{ nil, "json", help = "print the graph of processes as JSON instead of DOT" },
	},
	positional = { 1, 1, names = "TOPO.lua" },
	exits = {
		{ 0, "written" },
		{ 1, "dot failed or is not installed (install graphviz)" },
		{ 2, "bad command line, or TOPO.lua does not exist" },
		{ 3, "the spec is invalid" },
	},
}

-- find_dot returns the path of Graphviz's dot, or nil.
local function find_dot()
	for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
		local f = io.open(dir .. "/dot", "r")
		if f then
			f:close()
			return dir .. "/dot"
		end
	end
end

-- render runs dot -Tformat with the DOT text on its stdin.
function M.render(dot_text, format, out)
	local dot = find_dot()
	if not dot then return nil, "dot (Graphviz) is not installed: install graphviz, or write DOT with -o FILE.dot" end
	local r, w = fd.pipe()
	local er, ew = fd.pipe()
	local p = proc.spawn({ dot, "-T" .. format, "-o", out, fds = { [0] = r, [2] = ew } })
	r:close()
	ew:close()
	w:write(dot_text)
	w:close()
	local msg = {}
	while true do
		local s = er:read()
		if not s then break end
		msg[#msg + 1] = s
	end
	er:close()
	local code = p:wait()
	if code ~= 0 then return nil, "dot " .. tostring(code) .. ": " .. table.concat(msg) end
	return true
end

function M.main(argv)
	local opts, pos = args.parse(M.spec, argv)
	if not opts then return pos end
	if not fs.exists(pos[1]) then
		io.stderr:write("fdwire graph: " .. pos[1] .. ": no such file\n")
		return 2
	end
	local ok, def = pcall(topo.load, pos[1])
	if not ok then
		io.stderr:write("fdwire graph: " .. tostring(def) .. "\n")
		return 3
	end
	local text = topo.graph(def)
	local out = opts.output
	if not out or out == "-" then
		fd.stdout:write(text)
		return 0
	end
	local ext = out:match("%.(%w+)$")
	if ext == "dot" or ext == "gv" then
		local f, err = io.open(out, "w")
		if not f then
			io.stderr:write("fdwire graph: " .. tostring(err) .. "\n")
			return 1
		end
		f:write(text)
		f:close()
		return 0
	end
	local done, err = M.render(text, ext or "svg", out)
	if not done then
		io.stderr:write("fdwire graph: " .. err .. "\n")
		return 1
	end
	return 0
end

return M
