-- accept-loop: one listener serving several clients at once with tasks.
--
-- A server task accepts on an abstract unix socket and spawns a task per
-- connection; each handler answers after a pause, so the clients are
-- served concurrently, not one after the other. The clients here are
-- tasks too, but any process could connect to the printed address.
local listener = sock.listen_on("@fdwire-accept-loop-" .. proc.self().pid)
local address = listener:info().addr
print("listening on " .. address)

local served = 0
local server = task.spawn(function()
	while true do
		local conn = sock.accept(listener)
		task.spawn(function()
			local request = conn:read(1024, {timeout = 5})
			task.sleep(0.05) -- pretend to work; other clients proceed meanwhile
			conn:write("hello, " .. request)
			conn:close()
			served = served + 1
		end)
	end
end)

local clients = {}
for i = 1, 5 do
	clients[i] = task.spawn(function()
		local c = sock.connect(address, {timeout = 5})
		c:write("client " .. i)
		local reply = c:read(1024, {timeout = 5})
		c:close()
		return reply
	end)
end
for i, t in ipairs(clients) do
	local reply = t:wait()
	assert(reply == "hello, client " .. i, reply)
	print(reply)
end
server:cancel()
listener:close()
assert(served == 5)
