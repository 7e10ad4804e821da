-- fdwire.topo.cli_up: `fdwire up TOPO.lua`.
local args = require("fdwire.tools.args")

local M = {}

M.spec = {
	name = "up",
	usage = "fdwire up [options] TOPO.lua",
	about = "Runs a topology file: makes its sockets and pipes, starts its processes in dependency order\n" ..
		"(each once what it depends on is started, ready or exited), prints their output with name\n" ..
		"prefixes, and ends when every process that must exit has exited, at the first failure, at the\n" ..
		"timeout, or on ^C/SIGTERM; then tears down in reverse order (SIGTERM, grace, SIGKILL) and\n" ..
		"prints a per-process summary. A second ^C gives up on the ordered teardown.",
	options = {
		{ "q", "quiet", help = "do not echo the processes' output" },
		{ nil, "json", help = "write the result as one JSON object on stdout (output and summary go to stderr)" },
	},
	positional = { 1, 1, names = "TOPO.lua" },
	exits = {
		{ 0, "every expectation held" },
		{ 1, "an expectation failed, or the timeout passed" },
		{ 2, "bad command line, or TOPO.lua does not exist" },
		{ 3, "the spec is invalid or the topology could not be set up" },
		{ "130", "interrupted by SIGINT (143 for SIGTERM, 129 for SIGHUP, 131 for SIGQUIT), after the teardown" },
	},
}

function M.main(argv)
	local opts, pos = args.parse(M.spec, argv)
	if not opts then return pos end
	if not fs.exists(pos[1]) then
		io.stderr:write("fdwire up: " .. pos[1] .. ": no such file\n")
		return 2
	end
	local ok, def = pcall(topo.load, pos[1])
	if not ok then
		io.stderr:write("fdwire up: " .. tostring(def) .. "\n")
		return 3
	end
	local ok2, code = pcall(topo._up_main, def, { quiet = opts.quiet, json = opts.json })
	if not ok2 then
		io.stderr:write("fdwire up: " .. tostring(code) .. "\n")
		return 3
	end
	return code
end

return M
