-- fdwire.tools.holdcli: the client commands of `fdwire hold`:
-- hold-store, hold-retrieve, hold-list, hold-delete, hold-transfer. Each
-- is a thin module (fdwire.tools.hold_store, ...) calling one main here.
local args = require "fdwire.tools.args"
local common = require "fdwire.tools.common"
local holder = require "fdwire.holder"

local M = {}

local function common_opts(extra)
	local t = {
		{ long = "abstract", short = "a", help = "a bare NAME is the abstract socket @NAME" },
		{ long = "wait", short = "w", help = "wait for the holder to appear instead of failing at once" },
		{ long = "timeout", short = "t", arg = "SECS", type = "duration", default = 10, help = "give up after SECS" },
		{ long = "allow-server-uid", short = "U", arg = "UID", type = "int", min = 0, max = 4294967294,
			list = true, comma = true,
			help = "also trust a holder run by UID (default: only this uid and root); repeatable" },
	}
	for _, o in ipairs(extra or {}) do table.insert(t, 1, o) end
	return t
end

-- exits builds a client's exit table from the rows it can return.
local ROWS = {
	[0] = { 0, "done" },
	[1] = { 1, "error (a protocol error, a descriptor not open, ...)" },
	store = { 1, "error (EBUSY: the identifier is held already, ENOSPC: the holder is full, ...)" },
	[2] = { 2, "bad command line" },
	[3] = { 3, "no holder at SOCKSPEC (or none within the timeout)" },
	[4] = { 4, "refused by the holder: its rules deny this uid that (EACCES, EPERM), or too many clients" },
	[5] = { 5, "unknown identifier" },
	[6] = { 6, "expired identifier" },
	[7] = { 7, "the socket is served by another uid (not trusted): nothing was sent" },
}
local function exits(codes, first, one)
	local t = { first }
	for _, c in ipairs(codes) do t[#t + 1] = (c == 1 and one) or ROWS[c] end
	return args.with_signals(t)
end

local function opts_of(o)
	return { abstract = o.abstract, wait = o.wait, timeout = o.timeout, allow_server_uid = o.allow_server_uid }
end

M.store_spec = {
	name = "hold-store",
	usage = "fdwire hold-store [-f FD] [--expire SECS] [--replace] [--abstract] [--wait] [--timeout SECS]\n" ..
		"                         [--allow-server-uid UID]... SOCKSPEC ID",
	about = "Stores descriptor FD of this process in the holder at SOCKSPEC under ID. An ID already\n" ..
		"held is refused (EBUSY) unless --replace.",
	options = common_opts {
		{ long = "fd", short = "f", arg = "FD", type = "int", min = 0, default = 0, help = "the descriptor to store" },
		{ long = "expire", short = "e", arg = "SECS", type = "duration", help = "the holder closes it after SECS" },
		{ long = "replace", short = "R", help = "replace what is held under ID (the old descriptor is closed)" },
	},
	positional = { min = 2, max = 2, names = "SOCKSPEC and ID" },
	exits = exits({ 1, 2, 3, 4, 7 }, ROWS[0], ROWS.store),
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
		op.replace = o.replace
		holder.store(pos[1], pos[2], h, op)
	end)
end

M.retrieve_spec = {
	name = "hold-retrieve",
	usage = "fdwire hold-retrieve [-f N] [--delete] [--abstract] [--wait] [--timeout SECS]\n" ..
		"                            [--allow-server-uid UID]... SOCKSPEC ID [--] COMMAND [ARGS...]",
	about = "Retrieves the descriptor held under ID and runs COMMAND with it at N (by exec: COMMAND's\n" ..
		"status is the tool's).",
	options = common_opts {
		{ long = "fd", short = "f", arg = "N", type = "int", min = 0, default = 0, help = "where COMMAND gets the descriptor" },
		{ long = "delete", short = "d", help = "also delete it from the holder" },
	},
	positional = { min = 2, max = 2, names = "SOCKSPEC and ID" },
	terminators = { "--", "--run" },
	command = "required",
	exits = (function()
		local t = exits({ 1, 2, 3, 4, 5, 6, 7 }, { "N", "COMMAND's exit status (128+SIGNAL when a signal ended it)" })
		table.insert(t, #t - 3, { 126, "COMMAND could not be run" })
		table.insert(t, #t - 3, { 127, "COMMAND was not found" })
		return t
	end)(),
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
	usage = "fdwire hold-list [--abstract] [--wait] [--timeout SECS] [--allow-server-uid UID]... SOCKSPEC",
	about = "Prints the identifiers held at SOCKSPEC that this uid may list, one a line. The list\n" ..
		"is whole or the tool fails: it is printed only once all of it arrived.",
	options = common_opts(),
	positional = { min = 1, max = 1, names = "SOCKSPEC" },
	exits = exits({ 1, 2, 3, 4, 7 }, ROWS[0]),
}

function M.list(argv)
	local o, pos = args.parse(M.list_spec, argv)
	if not o then return pos end
	return common.guard("hold-list", function()
		local ids = holder.list(pos[1], opts_of(o))
		if #ids > 0 then io.write(table.concat(ids, "\n"), "\n") end
	end)
end

M.delete_spec = {
	name = "hold-delete",
	usage = "fdwire hold-delete [--abstract] [--wait] [--timeout SECS] [--allow-server-uid UID]... SOCKSPEC ID",
	about = "Makes the holder at SOCKSPEC close the descriptor held under ID.",
	options = common_opts(),
	positional = { min = 2, max = 2, names = "SOCKSPEC and ID" },
	exits = exits({ 1, 2, 3, 4, 5, 6, 7 }, ROWS[0]),
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
	usage = "fdwire hold-transfer [--replace] [--abstract] [--wait] [--timeout SECS] [--allow-server-uid UID]...\n" ..
		"                            FROM TO",
	about = "Copies the whole state of the holder at FROM (every descriptor this uid may dump,\n" ..
		"with its remaining expiry) into the holder at TO, and prints how many moved. An\n" ..
		"identifier TO holds already stops the transfer (EBUSY) unless --replace.",
	options = common_opts {
		{ long = "replace", short = "R", help = "replace identifiers TO holds already" },
	},
	positional = { min = 2, max = 2, names = "FROM and TO" },
	exits = exits({ 1, 2, 3, 4, 7 }, ROWS[0], ROWS.store),
}

function M.transfer(argv)
	local o, pos = args.parse(M.transfer_spec, argv)
	if not o then return pos end
	return common.guard("hold-transfer", function()
		local op = opts_of(o)
		op.replace = o.replace
		print(holder.transfer(pos[1], pos[2], op))
	end)
end

return M
