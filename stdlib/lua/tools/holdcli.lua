-- fdwire.tools.holdcli: the client commands of `fdwire hold`:
-- hold-store, hold-retrieve, hold-list, hold-delete, hold-transfer. Each
-- is a thin module (fdwire.tools.hold_store, ...) calling one main here.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"
local holder = require "fdwire.holder"

local M = {}

local function common_opts(extra)
	local t = {
		{ "a", "abstract", help = "a bare NAME is the abstract socket @NAME" },
		{ "w", "wait", help = "wait for the holder to appear instead of failing at once" },
		{ "t", "timeout", arg = "SECS", number = true, min = 0, default = 10, help = "give up after SECS" },
	}
	for _, o in ipairs(extra or {}) do table.insert(t, 1, o) end
	return t
end

local EXITS = {
	{ 0, "done" },
	{ 1, "error" },
	{ 2, "bad command line" },
	{ 3, "no holder at SOCKSPEC (or none within the timeout)" },
	{ 4, "access denied by the holder's rules" },
	{ 5, "unknown identifier" },
	{ 6, "expired identifier" },
}

local function opts_of(o)
	return { abstract = o.abstract, wait = o.wait, timeout = o.timeout }
end

M.store_spec = {
	name = "hold-store",
	usage = "fdwire hold-store [-f FD] [--expire SECS] [--abstract] [--wait] [--timeout SECS] SOCKSPEC ID",
	about = "Stores descriptor FD of this process in the holder at SOCKSPEC under ID.",
	options = common_opts {
		{ "f", "fd", arg = "FD", int = true, min = 0, default = 0, help = "the descriptor to store" },
		{ "e", "expire", arg = "SECS", number = true, help = "the holder closes it after SECS" },
	},
	positional = { 2, 2, names = "SOCKSPEC and ID" },
	exits = EXITS,
}

function M.store(argv)
	local o, pos = args.parse(M.store_spec, argv)
	if not o then return pos end
	if o.expire and o.expire <= 0 then return args.usage_error(M.store_spec, "--expire must be positive") end
	return common.guard("hold-store", function()
		local ok, h = pcall(fd.from, o.fd)
		if not ok then common.fail("hold-store", "EBADF", "descriptor " .. o.fd .. " is not open") end
		local op = opts_of(o)
		op.expire = o.expire
		holder.store(pos[1], pos[2], h, op)
	end)
end

M.retrieve_spec = {
	name = "hold-retrieve",
	usage = "fdwire hold-retrieve [-f N] [--delete] [--abstract] [--wait] [--timeout SECS] SOCKSPEC ID -- COMMAND [ARGS...]",
	about = "Retrieves the descriptor held under ID and runs COMMAND with it at N.",
	options = common_opts {
		{ "f", "fd", arg = "N", int = true, min = 0, default = 0, help = "where COMMAND gets the descriptor" },
		{ "d", "delete", help = "also delete it from the holder" },
	},
	positional = { 2, 2, names = "SOCKSPEC and ID" },
	terminators = { "--", "--run" },
	command = "required",
	exits = {
		{ "N", "COMMAND's exit status" }, EXITS[2], EXITS[3], EXITS[4], EXITS[5], EXITS[6], EXITS[7],
		{ 126, "COMMAND could not be run" }, { 127, "COMMAND was not found" },
	},
}

function M.retrieve(argv)
	local o, pos, command = args.parse(M.retrieve_spec, argv)
	if not o then return pos end
	local h
	local status = common.guard("hold-retrieve", function()
		h = holder.retrieve(pos[1], pos[2], opts_of(o))
		if o.delete then holder.delete(pos[1], pos[2], opts_of(o)) end
	end)
	if status ~= 0 then
		if h then h:close() end
		return status
	end
	return common.run_command("hold-retrieve", command, { [o.fd] = h })
end

M.list_spec = {
	name = "hold-list",
	usage = "fdwire hold-list [--abstract] [--wait] [--timeout SECS] SOCKSPEC",
	about = "Prints the identifiers held at SOCKSPEC that this uid may list, one a line.",
	options = common_opts(),
	positional = { 1, 1, names = "SOCKSPEC" },
	exits = EXITS,
}

function M.list(argv)
	local o, pos = args.parse(M.list_spec, argv)
	if not o then return pos end
	return common.guard("hold-list", function()
		for _, id in ipairs(holder.list(pos[1], opts_of(o))) do print(id) end
	end)
end

M.delete_spec = {
	name = "hold-delete",
	usage = "fdwire hold-delete [--abstract] [--wait] [--timeout SECS] SOCKSPEC ID",
	about = "Makes the holder at SOCKSPEC close the descriptor held under ID.",
	options = common_opts(),
	positional = { 2, 2, names = "SOCKSPEC and ID" },
	exits = EXITS,
}

function M.delete(argv)
	local o, pos = args.parse(M.delete_spec, argv)
	if not o then return pos end
	return common.guard("hold-delete", function()
		holder.delete(pos[1], pos[2], opts_of(o))
	end)
end

M.transfer_spec = {
	name = "hold-transfer",
	usage = "fdwire hold-transfer [--abstract] [--wait] [--timeout SECS] FROM TO",
	about = "Copies the whole state of the holder at FROM (every descriptor this uid may dump,\n" ..
		"with its remaining expiry) into the holder at TO, and prints how many moved.",
	options = common_opts(),
	positional = { 2, 2, names = "FROM and TO" },
	exits = EXITS,
}

function M.transfer(argv)
	local o, pos = args.parse(M.transfer_spec, argv)
	if not o then return pos end
	return common.guard("hold-transfer", function()
		print(holder.transfer(pos[1], pos[2], opts_of(o)))
	end)
end

return M
