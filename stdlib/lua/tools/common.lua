-- fdwire.tools.common: what the tools share: exit statuses, SOCKSPEC
-- resolution and the private runtime directory, listening with 0600
-- sockets that are removed when closed, connecting with waits, running
-- COMMAND with descriptors in place, and error reporting.
local M = {}
local errors = require "fdwire.errors"

-- Exit statuses shared by every tool (each tool's --help lists its own).
M.OK, M.ERROR, M.USAGE = 0, 1, 2
M.NO_PEER = 3     -- no receiver / handler / holder within the timeout
M.REFUSED = 4     -- the peer refused us (uid not allowed, access denied)
M.UNKNOWN = 5     -- hold: unknown identifier
M.EXPIRED = 6     -- hold: expired identifier
M.UNTRUSTED = 7   -- the server is another uid (a squatter?): nothing was sent
M.TIMEOUT = 124   -- recv: no sender within the timeout
M.CANNOT_RUN = 125 -- failed before COMMAND could run
M.NOT_EXEC = 126  -- COMMAND found but not executable
M.NOT_FOUND = 127 -- COMMAND not found

local MODE_DIR, MODE_SOCK, MASK_GO = 448, 384, 63 -- 0700, 0600, 0077

-- M.log writes "fdwire TOOL: message" to stderr.
function M.log(tool, fmtstr, ...)
	io.stderr:write("fdwire " .. tool .. ": " .. string.format(fmtstr, ...) .. "\n")
end

-- M.fail raises the primitives' own error value (fdwire.errors: errno
-- from the name, the shared metatable and its formatting), with an exit
-- status for the tool. A name that is no errno (a peer's answer) is kept
-- in the message under ERROR.
function M.fail(op, name, msg, status)
	local ok, e = pcall(errors.new, op, name, msg, { status = status })
	if not ok then e = errors.new(op, "ERROR", tostring(name) .. ": " .. msg, { status = status }) end
	error(e, 0)
end

-- M.runtime_dir returns the per-user 0700 directory bare SOCKSPECs live
-- in, creating it: $XDG_RUNTIME_DIR/fdwire, else /run/user/UID/fdwire,
-- else /tmp/fdwire-UID. An existing one must be a directory of ours with
-- no access for group or others, or it is refused.
function M.runtime_dir()
	local uid = proc.self().uid
	local xdg = os.getenv("XDG_RUNTIME_DIR")
	local dir
	if xdg and xdg ~= "" then
		dir = xdg .. "/fdwire"
	elseif fs.exists("/run/user/" .. uid) then
		dir = "/run/user/" .. uid .. "/fdwire"
	else
		dir = "/tmp/fdwire-" .. uid
	end
	if not fs.exists(dir) then
		local old = fs.umask(MASK_GO)
		local ok, err = pcall(fs.mkdir, dir, MODE_DIR)
		fs.umask(old)
		if not ok and not (type(err) == "table" and err.name == "EEXIST") then error(err, 0) end
	end
	local st = fs.stat(dir)
	if st.type ~= "dir" then
		M.fail("runtime directory", "ENOTDIR", dir .. " is a " .. st.type .. ", not a directory")
	end
	if st.uid ~= uid then
		M.fail("runtime directory", "EPERM", string.format("%s belongs to uid %d, not to us (uid %d)", dir, st.uid, uid))
	end
	if st.mode % 64 ~= 0 then
		M.fail("runtime directory", "EPERM", string.format(
			"%s has mode %04o; it must give group and others no access (chmod 700 %s)", dir, st.mode, dir))
	end
	return dir
end

-- M.resolve turns a SOCKSPEC into {addr=, path=, abstract=, display=}:
-- @NAME is abstract; a path (containing "/" or starting with unix:) is a
-- socket file; a bare NAME is a file in the runtime directory, or with
-- abstract=true the abstract socket @NAME.
function M.resolve(spec, abstract)
	if type(spec) ~= "string" or spec == "" then
		M.fail("sockspec", "EINVAL", "empty SOCKSPEC")
	end
	if spec:sub(1, 1) == "@" then
		return { addr = spec, abstract = true, display = spec }
	end
	if spec:match("^unix:") or spec:find("/", 1, true) then
		local a = sock.parse(spec)
		if a.kind == "abstract" then return { addr = a.string, abstract = true, display = a.string } end
		if a.kind ~= "unix" then
			M.fail("sockspec", "EINVAL", spec .. " is a " .. a.kind .. " address; descriptors travel over unix sockets only")
		end
		return { addr = a.string, path = a.path, display = a.string }
	end
	if spec:find(":", 1, true) then
		local ok, a = pcall(sock.parse, spec)
		if ok and a.kind ~= "unix" and a.kind ~= "abstract" then
			M.fail("sockspec", "EINVAL", spec .. " is a " .. a.kind .. " address; descriptors travel over unix sockets only")
		end
	end
	if spec == "." or spec == ".." then M.fail("sockspec", "EINVAL", "bad name " .. spec) end
	if abstract then return { addr = "@" .. spec, abstract = true, display = "@" .. spec } end
	local path = M.runtime_dir() .. "/" .. spec
	return { addr = path, path = path, display = path }
end

-- M.listen listens on a resolved SOCKSPEC. A path socket is made 0600
-- from birth (umask) and removed when the listener closes, including when
-- the run is interrupted; a stale socket file (nobody listening) is
-- replaced, a live one is an EADDRINUSE error.
function M.listen(t, opts)
	opts = opts or {}
	if t.path and fs.exists(t.path) then
		local st = fs.stat(t.path)
		if st.type ~= "socket" then
			M.fail("listen", "EEXIST", t.path .. " exists and is a " .. st.type .. ", not a socket")
		end
		local ok, c = pcall(sock.connect, opts.type or "stream", t.addr)
		if ok then
			c:close()
			M.fail("listen " .. t.display, "EADDRINUSE", "another process is listening there")
		end
		fs.unlink(t.path) -- stale: its listener is gone
	end
	-- 0177: the socket is born 0600; opts.umask keeps the process's umask
	-- (activate, as systemd-socket-activate)
	local old
	if t.path and opts.mode then
		-- born with exactly opts.mode: no moment with wider access
		old = fs.umask(511 - opts.mode)
	elseif t.path and not opts.umask then
		old = fs.umask(MASK_GO + 64) -- 0177
	elseif t.path then
		-- the umask applied to 0666, as systemd's default SocketMode:
		-- no execute bits on a socket file
		old = fs.umask(0)
		local m = old
		for _, b in ipairs({ 1, 8, 64 }) do
			if math.floor(m / b) % 2 == 0 then m = m + b end
		end
		fs.umask(m)
	end
	local ok, l = pcall(sock.listen_on, t.addr, { type = opts.type })
	if old then fs.umask(old) end
	if not ok then error(l, 0) end
	if t.path then
		local okc, e = pcall(function()
			if opts.mode or not opts.umask then fs.chmod(t.path, opts.mode or MODE_SOCK) end
			-- opts.file_with: the file goes when that handle closes instead
			fs.unlink_on_close(opts.file_with or l, t.path)
		end)
		if not okc then
			l:close()
			pcall(fs.unlink, t.path)
			error(e, 0)
		end
	end
	return l
end

local function is_absent(e)
	return type(e) == "table" and (e.name == "ENOENT" or e.name == "ECONNREFUSED")
end

-- M.connect connects to a resolved SOCKSPEC. With wait set it waits for
-- the listener: with inotify for a path that does not exist yet, with
-- backoff (10 ms doubling to 500 ms) while a path or abstract name refuses.
-- Bound the whole wait with task.timeout.
function M.connect(t, typ, wait)
	local delay = 0.01
	while true do
		local ok, c = pcall(sock.connect, typ or "stream", t.addr)
		if ok then return c end
		if not wait or not is_absent(c) then error(c, 0) end
		if t.path and c.name == "ENOENT" then
			fs.wait_path(t.path)
		else
			task.sleep(delay)
			delay = math.min(delay * 2, 0.5)
		end
	end
end

-- ACCEPT_TRANSIENT: accept errors that say nothing about the listener:
-- the process or system is out of something, or the connection died.
local ACCEPT_TRANSIENT = { EMFILE = true, ENFILE = true, ENOBUFS = true, ENOMEM = true,
	ECONNABORTED = true, EPROTO = true, EPERM = true, EINTR = true, EAGAIN = true }

-- M.acceptor makes an accept function for a server's loop: a transient
-- accept error (EMFILE, ...) is logged once, with what(), and retried
-- with backoff (10 ms doubling to 1 s), and its end is logged ("accept
-- works again after N failures"); any other error, a cancel included,
-- is raised. A daemon is not ended by running out of descriptors.
function M.acceptor(tool, l, what)
	local delay, failing = 0.01, nil
	return function()
		while true do
			local ok, c, peer = pcall(sock.accept, l)
			if ok then
				if failing then
					M.log(tool, "accept works again after %d failures", failing)
					failing = nil
				end
				delay = 0.01
				return c, peer
			end
			if not (type(c) == "table" and ACCEPT_TRANSIENT[c.name]) then error(c, 0) end
			if not failing then
				M.log(tool, "accept: %s; retrying with backoff%s", tostring(c), what and what() or "")
				failing = 0
			end
			failing = failing + 1
			task.sleep(delay)
			delay = math.min(delay * 2, 1)
		end
	end
end

-- M.drop becomes user (name or uid) when running as root and returns who
-- it became; without root, naming another user is an EPERM error.
function M.drop(tool, name)
	local me = proc.self().uid
	if me ~= 0 then
		local u = user.lookup(name)
		if u.uid ~= me then
			M.fail(tool, "EPERM", "--user " .. name .. " needs root; running as uid " .. me)
		end
		return nil
	end
	return user.drop(name)
end

-- M.check_server checks who serves connection c before anything is sent
-- on it: SO_PEERCRED on a connected unix socket names the process that
-- made the listening socket. Its uid must be ours, root's, or one of
-- allow (numbers); anything else (for example another user who bound an
-- abstract name first) closes c and fails with status UNTRUSTED.
function M.check_server(c, t, allow)
	local ok, p = pcall(sock.peer, c)
	if not ok then
		c:close()
		error(p, 0)
	end
	if p.pidfd then p.pidfd:close() end
	local me = proc.self().uid
	if p.uid == me or p.uid == 0 then return p end
	for _, u in ipairs(allow or {}) do
		if u == p.uid then return p end
	end
	c:close()
	M.fail("connect " .. t.display, "EPERM", string.format(
		"served by uid %d (pid %d), not by uid %d or root: nothing sent (trust it with --allow-server-uid %d)",
		p.uid, p.pid, me, p.uid), M.UNTRUSTED)
end

-- M.status_of maps an error to an exit status (default: ERROR).
function M.status_of(e, default)
	if type(e) == "table" then
		if e.status then return e.status end
		if e.name == "ETIMEDOUT" then return M.NO_PEER end
	end
	return default or M.ERROR
end

-- M.guard runs fn() and turns a raised error into a message on stderr and
-- an exit status. os.exit still ends the run.
function M.guard(tool, fn, default)
	local ok, e = pcall(fn)
	if ok then return e or 0 end
	io.stderr:write("fdwire " .. tool .. ": " .. tostring(e) .. "\n")
	return M.status_of(e, default)
end

-- M.within runs fn under task.timeout(secs); nil or math.huge is no
-- bound, 0 does not wait at all.
function M.within(secs, fn, ...)
	if secs == nil or secs >= math.huge then return fn(...) end
	return task.timeout(secs, fn, ...)
end

-- M.run_command runs argv with fds = {[n] = handle} in place and returns
-- its exit status (128 + signal number when killed). With proc.exec it
-- replaces this process instead, so COMMAND's status is fdwire's by
-- construction; before that the caller must have closed what it holds.
function M.run_command(tool, argv, fds)
	local spec = { fds = fds }
	for i, a in ipairs(argv) do spec[i] = a end
	if proc.exec then
		local ok, e = pcall(proc.exec, spec)
		M.log(tool, "cannot run %s: %s", argv[1], tostring(e))
		return (type(e) == "table" and e.name == "ENOENT") and M.NOT_FOUND or M.NOT_EXEC
	end
	local ok, p = pcall(proc.spawn, spec)
	if not ok then
		M.log(tool, "cannot run %s: %s", argv[1], tostring(p))
		return (type(p) == "table" and p.name == "ENOENT") and M.NOT_FOUND or M.NOT_EXEC
	end
	for _, h in pairs(fds) do h:close() end -- the child has them; a pipe must see EOF
	local code, st = p:wait()
	if type(code) == "number" then return code end
	return 128 + (st.signo or 0)
end

return M
