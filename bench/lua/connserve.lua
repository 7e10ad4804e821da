-- connserve: the connection-passing row's second fdwire value: one Lua
-- accept loop that serves each TCP connection itself (no listener →
-- handler hand-off): accept, write the greeting, close.
--
--   fdwire bench/lua/connserve.lua PORT
--
-- Serves on 127.0.0.1:PORT until killed; bench/run's C client measures.
local port = assert(tonumber(arg[1]), "usage: connserve.lua PORT")
local l = sock.listen_on("tcp:127.0.0.1:" .. port, { backlog = 1024 })
-- Our own listener, never passed on: non-blocking, so accept needs no poll
-- per connection (docs/decisions.md, "Accept without a poll").
l:nonblock(true)
local greeting = "hello from the bench handler\n"
local accept = sock.accept
while true do
	local c = accept(l)
	c:write(greeting)
	c:close()
end
