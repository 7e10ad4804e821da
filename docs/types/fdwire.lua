---@meta fdwire
-- lua-language-server definitions for fdwire's Lua API, generated from docs/*.md
-- by `fdwire types`; do not edit. Regenerate: FDWIRE_REGEN=1 go test ./cmd/fdwire -run TestGeneratedFiles

---An address handle from sock.bind_anon (see docs/anon.md).
---@class AddrHandle

fd = {}

---`fd.pipe() -> r, w`
---
---Makes a pipe (`pipe2` with `O_CLOEXEC`) and returns its read and write ends.
---@return Fd
---@return Fd
function fd.pipe() end

---`fd.open(path, flags, mode) -> h`
---
---Opens `path`. `flags` is an fopen-style mode (`"r"` (default), `"r+"`, `"w"`,
---`"w+"`, `"a"`, `"a+"`) or `O_` names joined by `|`
---(`"O_WRONLY|O_CREAT|O_EXCL"`, `"O_PATH"`, `"O_DIRECTORY"`); `O_CLOEXEC` is
---always added. `mode` (default `0666`, before the umask) applies when a file
---is created; it is an integer from 0 to `0o7777` (write it as
---`tonumber("640", 8)`): `-1` or `4096` is an argument error, never a file
---with surprising bits. Errors: the kernel's (`open /x: ENOENT: no such file or directory`);
---an unknown flag name is an argument error.
---@param path string
---@param flags? string
---@param mode? integer
---@return Fd
function fd.open(path, flags, mode) end

---`fd.dup(h) -> h2`
---
---Duplicates `h` (`F_DUPFD_CLOEXEC`). The copy shares the open file
---description: offset, `O_APPEND` and `O_NONBLOCK` are shared.
---@param h Fd
---@return Fd
function fd.dup(h) end

---`fd.memfd(name) -> h`
---
---An anonymous memory file (`memfd_create` with `MFD_CLOEXEC | MFD_ALLOW_SEALING`).
---`name` (default `"fdwire"`) is at most 249 bytes, without NUL.
---@param name string
---@return Fd
function fd.memfd(name) end

---`fd.eventfd(initval) -> h`
---
---An eventfd counter starting at `initval` (default 0; 0 to 2^32-1).
---@param initval integer
---@return Fd
function fd.eventfd(initval) end

---`fd.from(n) -> h`
---
---Borrows descriptor number `n` of this process (for example one it
---inherited). The handle is never closed by fdwire; `h:close()` only forgets
---it. `n` is an integer from 0 to the hard `RLIMIT_NOFILE` - 1 (so
---`fd.from(2^32 + 1)` is an argument error, not descriptor 1). Fails with
---`EBADF` when `n` is not open; a handle instead of a number is an argument
---error.
---@param n integer
---@return Fd
function fd.from(n) end

---`fd.info(h) -> table`
---
---What the kernel says about `h` (see `Fd:info`).
---@param h Fd
---@return table
function fd.info(h) end

---`fd.close(h, ...) -> n`
---
---Closes every handle given, each one, in lists (`fd.close(fds)` after
---`sock.recvfds`) or in an `FdBatch` (`fd.close(batch)`), and returns how many
---it closed, without a Lua method call per handle; closed handles are skipped
---as `h:close()` skips them. Anything but a handle is an argument error, found
---before anything is closed: the call closes all or nothing. Descriptors with
---consecutive numbers (a received message's, normally) are closed with one
---`close_range(2)` per run instead of one `close(2)` each; `close_range` does
---not report an individual close's error (a file system's write-back `EIO`,
---which `close(2)` returns), so close such a file with `h:close()` to see it.
---@param h Fd
---@param ... any
---@return integer
function fd.close(h, ...) end

---`fd.splice(from, to, n, opts) -> moved`
---
---Moves up to `n` bytes (default 65536, at most 2^30) from `from` to `to` inside the kernel
---with `splice(2)`; one of the two must be a pipe (the other may be a pipe, a
---socket or a file, whose own offset moves as with read and write). Returns
---the number of bytes moved, 0 at end of input. Waits (parking only this
---task) for input to read or room to write, up to `opts.timeout`; the call is
---non-blocking through `SPLICE_F_NONBLOCK` and polling, never by changing the
---descriptors' `O_NONBLOCK`. Errors: `EINVAL` when neither side is a pipe,
---`EPIPE` when the reader of `to` is gone, `ETIMEDOUT`.
---@param from Fd
---@param to? Fd
---@param n? integer
---@param opts? table
---@return integer
function fd.splice(from, to, n, opts) end

---`fd.list() -> {h, ...}`
---
---Every handle this script owns that is still open, by descriptor number.
---@return table
function fd.list() end

---`fd.openat(dir, path, flags, opts) -> h`
---
---Opens `path` relative to directory handle `dir` with `openat2(2)`. `flags`
---as for `fd.open` (default `"r"`; `O_CLOEXEC` is always added). `opts.resolve`
---is a list of resolve flags (or one string joined by `|`): `"beneath"` (the
---lookup may not leave `dir`: `..` above it or an absolute path or symlink
---fails), `"in_root"` (`dir` is treated as `/`: `..` and absolute paths stay
---inside), `"no_symlinks"`, `"no_magiclinks"` (`/proc/PID/fd/N` and the like),
---`"no_xdev"` (no mount crossings), `"cached"`. The default is none, exactly as
---`openat2` with no resolve flags (which is `openat`). `opts.mode` (with
---`O_CREAT`) is the new file's mode. A refusal is the kernel's errno with the
---flag named: `openat2 ../x: EXDEV: invalid cross-device link (refused by
---resolve flag: the path leaves the directory (RESOLVE_BENEATH))`; `ELOOP` for
---a refused link.
---@param dir any
---@param path? string
---@param flags? string
---@param opts? table
---@return Fd
function fd.openat(dir, path, flags, opts) end

---`fd.opendir(path) -> h`
---
---Opens a directory (`O_RDONLY | O_DIRECTORY`) as a handle, for `fd.openat`,
---`fd.readdir`, `root = {{bind = h}}` or to hand to a child. `fd.opendir(dir,
---path, {resolve = ...})` opens one relative to another directory handle with
---the same resolve flags as `fd.openat`, to hand out a narrower capability.
---Not a directory: `ENOTDIR`.
---@param path string
---@return Fd
function fd.opendir(path) end

---`fd.readdir(dir) -> {name, ...}`
---
---The names in directory handle `dir`, sorted, without `.` and `..`. It reads
---through a fresh description of the directory, so `dir` may be an `O_PATH`
---handle and its own offset is left alone.
---@param dir any
---@return table
function fd.readdir(dir) end

---`fd.ready(h, events, opts) -> what`
---
---Waits until `h` is ready without reading or writing anything: `events` is
---`"r"` (default), `"w"` or `"rw"`; it returns what is ready (`"r"`, `"w"`,
---`"r,hup"`, ...). `opts.timeout` bounds the wait. `fdwire activate` uses it to
---wait for the first connection while leaving that connection for COMMAND.
---@param h Fd
---@param events? string
---@param opts? table
---@return string
function fd.ready(h, events, opts) end

---@class Fd
local Fd = {}

---`Fd:close()`
---
---Closes the descriptor (once; later calls do nothing). On a borrowed handle
---it only forgets the number.
function Fd:close() end

---`Fd:closed() -> boolean`
---
---Whether `close` was called.
---@return boolean
function Fd:closed() end

---`Fd:num() -> n`
---
---The descriptor number. Raises `EBADF` on a closed handle.
---@return integer
function Fd:num() end

---`Fd:read(n, opts) -> string | nil`
---
---Reads up to `n` bytes (default 65536; 1 to 64 MiB, so a typo such as
---`2^40` is an argument error and not an allocation); returns `nil` at end of
---file. Options go third (`h:read(nil, {timeout = 1})`): a table as `n` is an
---argument error. Waits (parking only this task) until data arrives;
---`opts.timeout` in seconds bounds the wait (`read <fd 7 pipe>: ETIMEDOUT: no
---data within 1s`), and `timeout = 0` reads only what is there already. Sockets are read with `MSG_DONTWAIT`; pipes,
---FIFOs and terminals are polled first; the descriptor's `O_NONBLOCK` is never
---changed.
---@param n integer
---@param opts? table
---@return any
function Fd:read(n, opts) end

---`Fd:write(s, opts) -> n`
---
---Writes all of `s`, waiting as needed (pipes get chunks of at most
---`PIPE_BUF` so a write never blocks the runtime); returns the byte count.
---Writing to a pipe or socket whose reader is gone raises `EPIPE`.
---`opts.timeout` bounds the wait. An error part way (`EPIPE`, `ETIMEDOUT`, a
---cancel) carries `written`, the bytes that did go out.
---@param s Fd
---@param opts? table
---@return integer
function Fd:write(s, opts) end

---`Fd:cloexec(on)`
---
---Sets or clears `FD_CLOEXEC` on this descriptor only (not shared). `on` is
---`true` or `false`; anything else (including nothing) is an argument error.
---@param on boolean
function Fd:cloexec(on) end

---`Fd:nonblock(on)`
---
---Sets or clears `O_NONBLOCK` (`on` is `true` or `false`). This changes the open file description, which
---every process holding a copy shares: only do it to descriptors you alone use. The handle remembers
---that this runtime set it: `sock.accept` on a listener made non-blocking this way calls `accept4`
---without polling first (see [sock.md](sock.md)); `nonblock(false)` undoes that too.
---@param on boolean
function Fd:nonblock(on) end

---`Fd:info() -> table`
---
---`{num, kind, flags, cloexec, dev, ino, link, owned, path, tags}`, plus for
---sockets `{domain, type, listening, addr, peer}`.
---
---- `kind`: `file`, `dir`, `pipe`, `fifo`, `socket`, `pidfd`, `memfd`,
---  `eventfd`, `chr`, `blk`, `anon` (another anonymous inode).
---- `flags`: the open flags (`{"O_RDWR", "O_APPEND"}`), from `F_GETFL`.
---- `dev`, `ino`: from `fstat`; two descriptors with the same pair refer to
---  the same file, pipe or socket.
---- `link`: the `/proc/self/fd/N` link (`pipe:[1234]`, `/etc/passwd`).
---- `path`: true for an `O_PATH` descriptor (such as an address handle).
---- `tags`: facts fdwire knows but the kernel cannot tell, such as `anon`;
---  each tag is also a true field (`info.anon`).
---- `domain` (`unix`, `inet`, `inet6`), `type` (`stream`, `dgram`,
---  `seqpacket`), `listening` (`SO_ACCEPTCONN`), `addr` and `peer` in the
---  address grammar (absent when unnamed).
---@return table
function Fd:info() end

---@class FdBatch
local FdBatch = {}

---`FdBatch:len() -> n`
---
---The number of descriptors (also `#batch`), open or since closed.
---@return integer
function FdBatch:len() end

---`FdBatch:get(i) -> h`
---
---The `i`-th handle (1-based; also `batch[i]`, which gives `nil` outside
---`1..#batch`), made on first use and the same handle `fd.list()` shows. A handle
---closed through `h:close()` stays closed in the batch.
---@param i any
---@return Fd
function FdBatch:get(i) end

---`FdBatch:num(i) -> n`
---
---The `i`-th descriptor's number without making a handle; `EBADF` once closed.
---@param i any
---@return integer
function FdBatch:num(i) end

---`FdBatch:iter() -> iterator`
---
---`for i, h in batch:iter() do ... end` visits every handle in order (making
---each one).
---@return any iterator
function FdBatch:iter() end

---`FdBatch:handles() -> list`
---
---A plain table of every handle, for code that wants `ipairs`.
---@return any list
function FdBatch:handles() end

---`FdBatch:close() -> n`
---
---The same as `fd.close(batch)`: closes every descriptor still open and returns
---the batch's length.
---@return integer
function FdBatch:close() end

sock = {}

---`sock.socket(domain, type) -> s`
---
---A new socket. `domain`: `"unix"`, `"inet"`, `"inet6"`; `type`: `"stream"`
---(default), `"dgram"`, `"seqpacket"`.
---@param domain string
---@param type? string
---@return Fd
function sock.socket(domain, type) end

---`sock.pair(type) -> a, b`
---
---A connected pair of unix sockets (`socketpair`), `type` as above.
---@param type string
---@return Fd
---@return Fd
function sock.pair(type) end

---`sock.bind(s, addr)`
---
---Binds `s`. For tcp, `SO_REUSEADDR` is set first so a restarted server need
---not wait out TIME_WAIT. `fd:N` cannot be bound (it names an existing socket).
---@param s Fd
---@param addr? string|AddrHandle
function sock.bind(s, addr) end

---`sock.listen(s, backlog)`
---
---Marks `s` listening; `backlog` defaults to `SOMAXCONN` (also what `0`
---means). A backlog above `net.core.somaxconn` is an argument error: the
---kernel would silently use `somaxconn` instead.
---@param s Fd
---@param backlog? integer
function sock.listen(s, backlog) end

---`sock.accept(s, opts) -> conn, peer`
---
---Waits for and accepts one connection. `opts.timeout` in seconds. `peer` is
---the connecting side's address as `accept4` reported it, in the address
---grammar (`tcp:127.0.0.1:40312`, `@name`, a path), or `nil` for an unnamed
---unix socket; a server that logs who connected needs no `fd.info` per
---connection. The accepted socket is blocking. `accept4` has no per-call
---"do not wait" flag, and fdwire never flips `O_NONBLOCK` on a description
---other processes may share, so on a blocking listener it polls before each
---`accept4`; on a listener this runtime made non-blocking itself
---(`l:nonblock(true)`, on a listener you do not pass on) it calls `accept4`
---directly and waits only when that says `EAGAIN`: no poll per connection.
---@param s Fd
---@param opts? table
---@return Fd
---@return any peer
function sock.accept(s, opts) end

---`sock.connect(addr, opts) -> s`
---
---Also `sock.connect(type, addr, opts)` and `sock.connect(s, addr)`. With an
---address (and optionally a type; default stream, or dgram for `udp:`), makes
---a new socket and connects it, waiting up to `opts.timeout`; the socket is
---returned in blocking mode. With an existing socket `s`, connects it (the
---kernel call itself may block briefly, for example when a unix listener's
---backlog is full) and returns `s`. An address handle or `fd:N` connects
---through `/proc/self/fd/N`. Errors: `ECONNREFUSED` (nobody listening, or the
---listener closed), `ENOENT` (no such path), `ETIMEDOUT`.
---@param addr string|AddrHandle
---@param opts? table
---@return Fd
function sock.connect(addr, opts) end

---`sock.listen_on(addr, opts) -> s`
---
---Socket + bind + listen in one call. `opts.type` (default from the address;
---`"stream"`, `"dgram"` or `"seqpacket"`) and `opts.backlog` (as for
---`sock.listen`); any other key is an argument error (`{tpye = "dgram"}`:
---did you mean "type"?). Datagram sockets are bound but not listened on. `@`
---autobinds: read the chosen name from `s:info().addr`. `fd:N` returns the
---existing socket at N, borrowed (for descriptors inherited through socket
---activation).
---@param addr string|AddrHandle
---@param opts? table
---@return Fd
function sock.listen_on(addr, opts) end

---`sock.shutdown(s, how)`
---
---`how`: `"read"`, `"write"` (default) or `"both"`.
---@param s Fd
---@param how? string
function sock.shutdown(s, how) end

---`sock.sendfds(s, fds, data, opts) -> n`
---
---Sends the handles in `fds` (a list, or an `FdBatch` from
---`recvfds{batch = true}`) with `data` in one `sendmsg` (`SCM_RIGHTS`) and
---returns the number of data bytes sent. At most 253 descriptors
---(`SCM_MAX_FD`); 254 or more are refused before any syscall with an `EINVAL`
---that names the limit. On a stream socket a message must carry at least one
---byte, so an empty `data` is sent as one NUL byte. A long stream payload is
---finished with plain writes after the first `sendmsg` (the descriptors travel
---with the first byte). A closed handle in `fds` is `EBADF`;
---`EPIPE` when the peer is gone. `opts.timeout` bounds the wait for buffer space.
---The receiver gets new descriptors for the same open file descriptions.
---
---Only `AF_UNIX` sockets carry descriptors: with descriptors to send, any
---other socket (TCP, UDP) is refused before anything is sent (`ENOTSUP`,
---argument `s`), because the kernel would send the data and drop the
---descriptors without a word. When the descriptors went out with the first
---part of a long stream payload and the rest then fails (`EPIPE`,
---`ETIMEDOUT`, a cancel), the error keeps `op = "sendfds"` and carries
---`delivered` (the descriptors the peer got) and `written` (the bytes sent).
---@param s Fd
---@param fds? Fd[]
---@param data? string
---@param opts? table
---@return integer
function sock.sendfds(s, fds, data, opts) end

---`sock.recvfds(s, opts) -> fds, data [, extra]`
---
---Receives one message: `fds` is a list of new owned handles (always
---close-on-exec: `MSG_CMSG_CLOEXEC`), `data` the bytes. At end of stream
---(peer closed) `data` is `nil` and `fds` empty, while an empty datagram or
---seqpacket message gives `""`. Options: `max` (room for this many
---descriptors, default and highest 253; `0` for none), `size` (room for data,
---default 4096, at most 64 MiB: a larger size is an argument error, never an
---allocation), `timeout`, `batch` (`true`: `fds` is an `FdBatch`, see
---[fd.md](fd.md#fdbatch), which makes a Lua handle only for the descriptors the
---script touches; `fd.close`, `sock.sendfds` and spawn maps take it whole). Any
---other key is an argument error.
---
---The control buffer holds exactly `max` descriptors. When the sender sent
---more, the kernel sets `MSG_CTRUNC` and closes the ones that did not fit:
---they are gone for good. fdwire then closes the ones that did arrive and
---raises `recvfds fd 5: MSG_CTRUNC: ... the message's descriptors are lost`
---(`name = "MSG_CTRUNC"`, `errno = 0`), rather than hand over half a message.
---The message's data was consumed with it, so the error keeps it: `e.data` is
---the message's bytes (a stream does not silently skip a message) and
---`e.arrived` the number of descriptors that arrived and were closed.
---
---The kernel truncates the same way when this process's descriptor table is
---full. fdwire tells the two apart (a descriptor table with no free slot
---while the buffer still had room) and raises `EMFILE` (or `ENFILE` for the
---system-wide limit) saying that the kernel dropped the descriptors that did
---not fit, with the same `data` and `arrived` fields.
---
---`extra` is present when the kernel said more: `truncated` (`MSG_TRUNC`, a
---datagram longer than `size`), and `pid`/`uid`/`gid` (`SCM_CREDENTIALS`) or
---`pidfd` (`SCM_PIDFD`) when the socket asked for them.
---
---On a seqpacket socket whose peer has already shut down, a zero-length
---message without descriptors cannot be told apart from end of stream (the
---kernel returns 0 for both); it reads as end of stream.
---@param s Fd
---@param opts? table
---@return Fd[]
---@return string
---@return any extra
function sock.recvfds(s, opts) end

---`sock.sendfds_many(s, msgs, opts) -> n`
---
---Sends every message of the list `msgs`, in order, as many per `sendmmsg(2)`
---as the socket takes (64 per call), and returns how many (`#msgs`). A message
---is a string (data, no descriptors), `{data, h1, h2, ...}` (the form
---`recvfds_many` returns, so a received list can be sent on as it is) or
---`{data = "...", fds = {h1, ...}}`; an `FdBatch` may stand for handles in
---either form. Each message keeps every rule of `sock.sendfds`: at most 253
---descriptors (`SCM_MAX_FD`), an empty `data` with descriptors sent as one NUL
---byte on stream and seqpacket sockets, only `AF_UNIX` sockets when any
---message carries descriptors. The whole list is checked before anything is
---sent: a closed handle (`EBADF`), a value that is not a handle, a misspelt
---key (`{dta = "x"}`: did you mean "data"?), a key outside the list, or a
---message with 254 descriptors is an argument error naming the message
---(`msgs[3][2] is a closed handle`) and nothing reaches the peer.
---`opts.timeout` bounds each wait for buffer space.
---
---A call that ends early (`EPIPE`, `ECONNRESET`, `ETIMEDOUT`, a cancel) raises
---with `op = "sendfds_many"` and `sent`, the number of messages the peer has
---whole; the message reads `... (after 120 of 500 messages were delivered)`.
---Messages `sent + 1` and later were not sent; send them again from there.
---On a stream socket each message is one `sendmsg` (a `sendmmsg` could start
---the next message after a short write and tear the stream), and a long
---payload is finished with plain writes before the next message starts.
---
---Example: [scripts/fdpass-many.lua](../scripts/fdpass-many.lua) hands ten pipes,
---each with its own tag, to a second process in one `sendfds_many`.
---@param s Fd
---@param msgs? any
---@param opts? table
---@return integer
function sock.sendfds_many(s, msgs, opts) end

---`sock.recvfds_many(s, opts) -> msgs, all`
---
---Receives the messages queued now, up to `count`, in one `recvmmsg(2)`, and
---waits (parks) only until the first arrives. `msgs` is a list of messages
---`{data, h1, h2, ...}`: the bytes, then the message's descriptors as new
---owned, close-on-exec handles (in `fd.list()`, closed at exit). `all` is
---every descriptor of the call, in message order, as one `FdBatch` of the
---same handles (see [fd.md](fd.md#fdbatch)): `fd.close(all)` closes them all
---(each run of consecutive numbers with one `close_range`), and
---`sock.sendfds` or a spawn map takes them whole. A message
---carries `truncated = true` (`MSG_TRUNC`), `pid`/`uid`/`gid`
---(`SCM_CREDENTIALS`) and `pidfd` (`SCM_PIDFD`) when the kernel said so, as
---`recvfds`'s `extra` does. `msgs.eof` is `true` when the peer closed after
---the messages in the list (the list may then be empty); on seqpacket a
---trailing run of zero-length messages from a peer that has shut down reads
---as end of stream, as in `recvfds`.
---
---Options: `count` (most messages per call, 1 to 1024 = `UIO_MAXIOV`, default
---64), `max` (room for descriptors per message, 0 to 253, default 253, as in
---`recvfds`), `size` (room for data per message, default 4096; `count * size`
---at most 64 MiB), `timeout`, `batch` (`true`: each message is `{data,
---FdBatch}`, the batch possibly empty). Anything else is an argument error
---with "did you mean". `max` keeps its `recvfds` meaning (descriptors), so
---the same option table means the same thing to both calls.
---
---When a message's descriptors do not fit (`MSG_CTRUNC`, or a full descriptor
---table: `EMFILE`), the other messages of the call were taken from the socket
---with it, so none of them is dropped: the call raises the first such
---message's error exactly as `recvfds` raises it (`name = "MSG_CTRUNC"`,
---`data`, `arrived`, the same message text, `op = "recvfds_many"`), plus
---`index` (its position), `messages` (the whole list: whole messages with
---their handles, owned as on success, and each truncated one as `{data, error
---= e}` with its arrived descriptors closed) and `fds` (the whole messages'
---descriptors as one `FdBatch`, as `all`).
---@param s Fd
---@param opts? table
---@return any msgs
---@return any all
function sock.recvfds_many(s, opts) end

---`sock.peer(s) -> {pid, uid, gid, pidfd}`
---
---Credentials of the process at the other end of a unix socket, from
---`SO_PEERCRED` (as of connect or socketpair time). `pidfd` is a handle from
---`SO_PEERPIDFD` on kernels that have it (6.5 and newer), else absent.
---@param s Fd
---@return table
function sock.peer(s) end

---`sock.parse(addr) -> table`
---
---Parses an address without using it: `{kind, string, path | host, port | fd}`
---where `kind` is `unix`, `abstract`, `tcp`, `tcp6`, `udp`, `udp6` or `fd`.
---Raises `EINVAL` naming what is wrong.
---@param addr string|AddrHandle
---@return table
function sock.parse(addr) end

---`sock.bind_anon{type=, backlog=, publishable=, dir=}`
---
---Makes an anonymous unix socket and returns `listener, address`. `type` is
---`"stream"` (default), `"seqpacket"` or `"dgram"` (a dgram "listener" is just
---the bound socket: read it with `sock.recvfrom` or `Fd:read`). `backlog`
---defaults to SOMAXCONN (checked as for `sock.listen`). `publishable` (`true`
---or `false`) keeps a private name for `sock.publish`. Any other key is an
---argument error with a "did you mean". `dir` is where the private scratch directory is made
---(default `$TMPDIR` or `/tmp`). Both handles are tagged `anon`
---(`fd.info(h).anon` is true); the address
---handle is an `O_PATH` descriptor (tags `path anon address unix/TYPE`) that
---can be passed to `sock.connect`, `sock.sendto`, `sock.sendfds` and
---`proc.spawn{fds=}` like any other handle. Connections accepted from the
---listener and sockets connected through the handle are tagged `anon` too.
---Raises EINVAL for a bad type and the mkdir/bind error (with a hint) when the
---scratch directory cannot be made. Connecting through the handle once the
---listener is closed raises ECONNREFUSED; connecting while its backlog is
---full (nobody accepting) raises the kernel's EAGAIN with a message saying
---the backlog is full (nothing signals when room frees up, so fdwire does not
---wait).
---@param spec table
function sock.bind_anon(spec) end

---`sock.publish(address, path, opts)`
---
---Hard-links the socket behind a publishable address handle at `path`, so
---clients that only know paths can connect, then removes the private name and
---directory. The public name is removed again when this runtime's listener
---closes (if `path` still names that socket), unless `opts.keep` is true.
---Errors: EINVAL with an explanation for a handle made without
---`publishable=true` (its name is gone for good: the kernel cannot link a
---socket file that has no name); EEXIST when the handle was already published
---(a handle is published once) or `path` exists; EXDEV when `path` is on
---another file system than the scratch directory; ECONNREFUSED when the
---listener is already closed (pass `keep=true` to publish anyway). An argument
---error for a handle that is not from `bind_anon` in this process.
---@param address string|AddrHandle
---@param path? string
---@param opts? table
function sock.publish(address, path, opts) end

---`sock.bind_at(s, dirfd, name)`
---
---Binds socket `s` to `name` inside the directory handle `dirfd` (bindat
---emulation, through `/proc/self/fd/D/name`). `name` must be relative. Raises
---ENAMETOOLONG when even that form does not fit in `sun_path`.
---@param s Fd
---@param dirfd? Fd
---@param name? string
function sock.bind_at(s, dirfd, name) end

---`sock.connect_at(dirfd, name, opts)`
---
---Connects a new unix socket (`opts.type`, default `"stream"`) to `name`
---inside the directory handle `dirfd` and returns it. `sock.connect_at(s,
---dirfd, name)` connects an existing socket `s` instead and returns `s`.
---Takes `opts.timeout`.
---@param dirfd Fd
---@param name? string
---@param opts? table
function sock.connect_at(dirfd, name, opts) end

---`sock.sendto(s, addr, data, opts)`
---
---Sends one datagram `data` from `s` to `addr` (any address in the grammar,
---a long path, or an address handle) and returns the number of bytes sent.
---Waits while the receiver's queue is full (`opts.timeout`).
---@param s Fd
---@param addr? string|AddrHandle
---@param data? string
---@param opts? table
function sock.sendto(s, addr, data, opts) end

---`sock.recvfrom(s, opts)`
---
---Receives one datagram and returns `data, from, truncated`: `from` is the
---sender's address in the grammar, or nil for an unbound sender; `truncated`
---is true when the datagram was longer than `opts.size` (default 65536, at
---most 64 MiB; larger is an argument error). Takes `opts.timeout`.
---@param s Fd
---@param opts? table
function sock.recvfrom(s, opts) end

---`sock.setopt(s, name, value)`
---
---Sets a socket option by name: `"passcred"` (SO_PASSCRED), `"passpidfd"`
---(SO_PASSPIDFD, Linux 6.5+: each received message carries the sender's pidfd,
---returned by `sock.recvfds` as `extra.pidfd`), `"passrights"` (SO_PASSRIGHTS,
---Linux 6.16+: `false` makes the kernel refuse descriptors sent to this socket,
---so senders' `sendfds` fails with EPERM), `"rcvbuf"`, `"sndbuf"`,
---`"reuseaddr"`, `"reuseport"`, `"keepalive"`, `"broadcast"`. Flags take a
---boolean, sizes a number. An option the kernel lacks raises ENOPROTOOPT
---naming the Linux version needed. Turning on passcred or passpidfd makes
---`sock.recvfds` reserve room for the credentials the kernel adds.
---@param s Fd
---@param name? string
---@param value? any
function sock.setopt(s, name, value) end

---`sock.getopt(s, name)`
---
---Reads an option named as for `sock.setopt`: a boolean for flags, a number
---otherwise.
---@param s Fd
---@param name? string
function sock.getopt(s, name) end

---`sock.connector(target, opts) -> h`
---
---Makes a connector to `target`: an address handle from `sock.bind_anon`, or
---any address (`"@name"`, `"unix:/path"`, `"tcp:127.0.0.1:80"`). Returns the
---client end, a `unix/seqpacket` socket tagged `connector`; hand it to a
---child in its map. This fdwire process serves the other end on a thread of
---its own, connecting on the client's behalf for each request, until every
---copy of the client end is closed. `opts.type` is the connections' socket
---type for an address string (the address handle's own type otherwise);
---`opts.timeout` (seconds, default 10) bounds one TCP connect. `sock.connect(h,
---opts)` on a connector (made here or received; any connected seqpacket unix
---socket counts) speaks the protocol and returns the connected socket;
---failures are errors with the server's errno: `connect connector fd 5:
---ECONNREFUSED: connection refused (reported by the connector's server)`.
---
---The listener sees the serving fdwire process as its peer (`SO_PEERCRED`),
---not the client: whoever holds the connector acts with the server's reach to
---that one target. That is the point (a capability), and the reason to hand
---one out only to whom the listener's own handle would go.
---
---The wire protocol is in [anon.md](anon.md#connectors); a C or Python client
---is ten lines (`scripts/connector-client.py`).
---@param target any
---@param opts? table
---@return Fd
function sock.connector(target, opts) end

---`sock.netns() -> h`
---
---Makes a network namespace with loopback up and returns a handle of it (an
---nsfd, tagged `netns`), for `proc.spawn{join = {net = h}}` and
---`sock.listen_in`. It lives while a handle of it or a process in it does.
---Needs CAP_SYS_ADMIN: without it `EPERM`.
---@return Fd
function sock.netns() end

---`sock.listen_in(netns, addr, opts) -> s`
---
---`sock.listen_on(addr, opts)` with the socket made inside network namespace
---`netns` (a handle from `sock.netns()` or an opened `/proc/PID/ns/net`): the
---calling thread enters it for the socket's creation, bind and listen, and
---goes back. A socket belongs to the namespace it was made in for its whole
---life, wherever it is used later. A wrong handle: `EINVAL ... needs a net
---namespace`; entering without CAP_SYS_ADMIN over it: `EPERM`.
---@param netns any
---@param addr? string|AddrHandle
---@param opts? table
---@return Fd
function sock.listen_in(netns, addr, opts) end

proc = {}

---`proc.spawn{argv..., fds=, env=, env_add=, cwd=, uid=, gid=, groups=, setsid=, pgroup=, pdeathsig=, umask=, rlimits=, stdin=, stdout=, stderr=, listen=, listen_names=, notify=, notify_fd=, detach=, cgroup=} -> Proc`
---
---Starts `argv[1]` with `argv` as its arguments. Unknown option names are an
---error with a "did you mean" (they are usually typos).
---
---**Finding the program** works as Go's os/exec does: a name with a `/` is
---used as it is; any other is searched in the `PATH` the child will have (its
---`env`, or this process's), or in the default
---`/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` when that
---environment has none (`env = {}`). Empty and relative `PATH` entries are
---not searched, so `./evil` never runs because `PATH` is empty or contains
---`.`; write `"./evil"` to mean it. A candidate must pass `access(X_OK)`.
---
---**Errors name the field.** What can be checked before the fork is: the
---values (below), NUL bytes in argv and env, `cwd` (exists, is a directory,
---can be entered), the program. (A program given by an absolute path and
---started without the trampoline, below, is checked by `execve` itself in
---Go's fork path, before anything of it runs, and a failure is explained by
---the same checks: the error is the one the check before the fork gives.)
---What fails after it (in Go's fork path or in
---fdwire's trampoline) is attributed to the step that failed. The error has
---`field` (`"cwd"`, `"argv[0]"`, `"env"`, `"uid"`, `"groups"`, `"rlimits"`,
---`"pdeathsig"`, ...) and says it: `spawn true: ENOENT: cwd "/nonexistent":
---no such file or directory`.
---
---**Values are exact.** `uid`, `gid` and `groups[i]` are integers from 0 to
---4294967294 (`uid = 2^32` is an error, not root; `65534.7` is an error, not
---65534); `pdeathsig` is a signal name or 1-64; `pgroup` is `true`, `false`
---or a group id from 0; `umask` is 0 to `0o777`; `notify_fd` and the keys of
---`fds` are descriptor numbers below the hard `RLIMIT_NOFILE`; `setsid`,
---`notify` and `detach` are `true` or `false`; env values are strings or
---numbers. Anything else is an argument error naming the field.
---
---**The map.** `fds = {[n] = handle, ...}` puts each handle at exactly number
---`n` in the child; an `FdBatch` (from `sock.recvfds(s, {batch = true})`) at key
---`n` puts its descriptors at `n`, `n+1`, ... (a target given twice is refused). The child holds exactly these descriptors plus 0, 1 and 2
---as the stdio options say, and nothing else, whatever the map looks like:
---holes (`{[7] = a}` leaves 3-6 closed), swaps (`{[0] = b, [1] = a}` where `a`
---and `b` are this process's 0 and 1), cycles, one handle at several numbers,
---numbers above 1000 (up to the hard `RLIMIT_NOFILE`). A map entry that is
---closed or is not an `Fd` is an error before anything starts (raw numbers
---are not handles: borrow one with `fd.from(n)`). fdwire's own descriptors
---are all close-on-exec, and at start-up fdwire marks everything it
---inherited close-on-exec, so nothing leaks in beside the map.
---
---**Stdio.** `stdin=`, `stdout=`, `stderr=` each take a handle (the same as
---`fds[0..2]`; giving both is an error), `"inherit"` (the default: this
---process's own), `"null"` (`/dev/null`, read-write), `"pipe"` (a new pipe;
---the parent's end is `p:stdin()`, `p:stdout()` or `p:stderr()`), or
---`"close"` (leave the number closed; few programs cope with that).
---
---**Environment and identity.**
---- `env = {K = "v", "K2=v2"}` replaces the environment; `env_add = {...}`
---  adds or overrides entries on top of it (or of this process's).
---- `cwd = "/path"`.
---- `uid =` number or user name; `gid =` number or group name (default: the
---  user's primary group from the user database, or the uid); `groups = {...}`
---  supplementary groups (default when uid/gid is given: none, so a child
---  dropped from root keeps none of root's groups).
---- `setsid = true` starts a new session; `pgroup = true` a new process
---  group led by the child, `pgroup = N` joins group N (not with `setsid`).
---- `pdeathsig = "TERM"` chooses the signal the kernel sends the child when
---  fdwire ends (default `KILL`, see **Lifetime**; refused with `detach`).
---- `umask = "027"` (an octal string, or a number).
---- `rlimits = {nofile = 1024, core = {0, 0}, nproc = {cur = 64, max = 64}}`:
---  one number sets the soft limit (and raises the hard one only if needed);
---  a pair sets both; `"unlimited"` is accepted. Names are those of
---  `RLIMIT_*` in lower case: `as core cpu data fsize locks memlock msgqueue
---  nice nofile nproc rss rtprio rttime sigpending stack`.
---
---**Socket activation.** `listen = {s1, s2}` puts those sockets at 3, 4, ...
---and sets `LISTEN_FDS=2`, `LISTEN_FDNAMES` (from `listen_names = {"api",
---"admin"}`, default `unknown` for each), `LISTEN_PID` equal to the child's
---own pid, and, on kernels with pidfs (6.9+), `LISTEN_PIDFDID`, the inode
---number of a pidfd for the child, as systemd does. `listen` entries count
---as map entries: giving `fds[3]` too is an error.
---
---**Readiness.** `notify = true` gives the child `NOTIFY_SOCKET`, the path of
---a private datagram socket, `/tmp/fdwire-notify-RANDOM/notify` (short
---whatever `$TMPDIR` is; the directory is 0711 and the socket 0777, so a child
---that drops to any uid still reaches it; a path, unlike an abstract name,
---also works from a network namespace of the child's own). fdwire drains it
---from the spawn until the child is reaped, so a chatty child never blocks:
---`READY=1`, `STATUS=`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1` and every
---other `KEY=VALUE` are recorded (`p:notices()`), `BARRIER=1` is answered by
---closing the descriptor it carries (so `systemd-notify --ready`,
---`sd_notify_barrier()` and libsystemd's default work), and `FDSTORE=1` keeps
---the descriptors sent with it, named by `FDNAME=`, for `p:ready()` and
---`p:fdstore()`. Because anyone may send to the socket, a message counts only
---when the kernel-reported sender pid (SCM_CREDENTIALS) is the child, one of
---its descendants, a member of the session it leads (`setsid`), or a process
---in its cgroup when it has one of its own, as systemd's `NotifyAccess=all`
---does within a unit; the sender's uid plays no part. A sender that has
---exited and been reaped before its message is read (a `systemd-notify
-----no-block` run by a shell) is placed by the pidfd the kernel attached to
---the message (SCM_PIDFD, Linux 6.5) and the cgroup that pidfd says it died
---in (PIDFD_INFO_EXIT, Linux 6.15): so for children with a cgroup of their own
---(every topology process, or any child spawned with `cgroup=`); otherwise
---such a message cannot be told from a stranger's. The run's children cgroup
---(below) is not a child's own: its other members are the child's siblings,
---so a sibling's READY=1 is dropped. Other messages are dropped and counted (`p:notices().dropped`). `notify_fd = N` follows the s6
---convention: the child gets the write end of a pipe at `N` and writes a
---newline when it is ready.
---
---**Cgroup.** `cgroup = h`, where `h` is an open directory handle of a
---cgroup v2 group (`fd.open("/sys/fs/cgroup/x", "O_RDONLY|O_DIRECTORY")`),
---creates the child inside that group (`clone3` with `CLONE_INTO_CGROUP`),
---so no process it forks can start outside it. Fails with the kernel's error
---(`EBUSY`, `EACCES`, `EOPNOTSUPP`) when the group cannot take processes.
---
---**Lifetime.** Children never outlive fdwire unless started with
---`detach = true`, however fdwire ends (the rule is stated in guide.md,
---"Children never outlive fdwire"). When the script ends, fails, calls
---`os.exit`, or gets SIGINT, SIGTERM, SIGHUP or SIGQUIT, every child not
---detached is sent SIGTERM, given a grace period (2 s), then SIGKILL, and
---reaped; no zombie is left. When fdwire gets no say (SIGKILL, a crash),
---the kernel ends each child: every child not detached is started with
---`PR_SET_PDEATHSIG` (SIGKILL unless `pdeathsig` names another signal).
---What the children leave behind is ended through the run's *children
---cgroup*: the fdwire command puts every child that is not detached and has
---no `cgroup=` into one cgroup v2 group of the run's, made under fdwire's own
---cgroup at the first such spawn (`fdwire-children-PID-RANDOM`), and its
---warden kills what is in it (`cgroup.kill`) and removes it when fdwire dies
---without a say; the ordered teardown does the same last. Where no group can
---be made (no writable cgroup2, Linux before 5.14) children start in
---fdwire's cgroup, and a grandchild orphaned at a SIGKILL survives it
---(guide.md states the gap). `proc.exec` hands the children to the new
---program: they move back to fdwire's cgroup and the group is removed. A Go
---program embedding the runtime asks for the group with
---`proc.OwnerOptions{Cgroup: true, Warden: w}` (luabind does so when
---`Options.Warden` is set). The
---fdwire command is also a *child subreaper* from its first spawn on
---(`PR_SET_CHILD_SUBREAPER`): a grandchild whose parent exits (a daemon that
---double-forks, `sh -c 'x &'`) is adopted by fdwire, reaped when it exits,
---and ended with the children at the end. A Go program embedding the runtime
---opts into this by giving its runtime a `reap.NewReaper()`
---(`luabind.Options.Reaper`). Only what the runtime itself started is ended:
---two runtimes in one process never end each other's children.
---
---`detach = true` starts the child in a new session (`setsid`), with no
---death signal and in no cgroup of fdwire's; it is not signalled when fdwire
---ends and not taken for an orphan, nor are the other members of its
---session. `pgroup` and `pdeathsig` are refused with it. Give it
---`stdin/stdout/stderr = "null"` when it must not hold fdwire's terminal or
---pipes.
---
---**The trampoline, and what it costs.** Go cannot run code between fork
---and exec, and umask, rlimits and `LISTEN_PID` (which must be the child's
---own pid) can only be set there. A spawn that uses any of them starts the
---fdwire binary itself (`/proc/self/exe`) as a small trampoline, which does
---that set-up, then execs the program; uid/gid/groups and pdeathsig then
---move into the trampoline too, so limits are set before privileges drop.
---The descriptor map is placed before the trampoline runs; it closes again
---any of 0-2 the map leaves closed (Go's runtime opens `/dev/null` there at
---start-up). A failure in the trampoline (`setrlimit` refused, exec failed)
---comes back as the spawn's error. The cost is one extra exec and a Go
---runtime start-up: measured at 14-22 ms per spawn against 2.2 ms for a
---direct one on a loaded 2-core machine, where an empty Go program alone
---takes about 10 ms to start. Spawns without these options do not pay it. Go programs other than fdwire must
---call `proc.RunTrampoline()` first thing in `main` (test binaries: in
---`TestMain`), or set `FDWIRE_TRAMPOLINE` to an fdwire binary.
---@param spec table
---@return any Proc
function proc.spawn(spec) end

---`proc.exec{argv..., fds=, ...}`
---
---Replaces this process (same pid) with the program, with the same map
---rules and options as `proc.spawn` except those that need a parent
---(`"pipe"`, `notify`, `notify_fd`, `detach`): execline-style chain loading,
---so a script can end by becoming the program it prepared. Children keep
---running (they become the new program's children); every handle not in the
---map is closed by close-on-exec. It returns only by raising an error, and a failed exec changes nothing
---in this process: the program is opened (`O_PATH`) and checked before the
---point of no return (a missing program is `ENOENT`; a directory, a file
---without execute permission or on a `noexec` mount is `EACCES`; a file that
---is neither an ELF binary for this machine nor a `#!` script is `ENOEXEC`;
---a missing ELF interpreter or `#!` interpreter is `ENOENT`), as is `cwd`,
---and `setsid` is refused (`EPERM`) when this process leads its process
---group. With running children started both from the script's thread and
---from the runtime's spawner thread (spawns that `join` another process's
---namespaces are made there), exec is refused with `EBUSY`: execve keeps
---one thread, and the children of the other would get their death signal
---(wait for one group, or start it with `detach = true`). Exec goes through the trampoline: the map's sources are made to
---survive `execve` and the trampoline, a fresh process image, moves them to
---their numbers, changes to exactly the directory that was checked
---(`fchdir`), calls `setsid`/`setpgid`, and runs exactly the file that was
---checked (through `/proc/self/fd`; a `#!` script by its path, which its
---interpreter needs), because moving descriptors inside a live
---multi-threaded Go process could clobber ones its runtime is using. What
---can still fail after that point (a `setpgid` refused, a file replaced
---under a `#!` path) is printed on stderr and the process exits with 127.
---The tools map `EACCES`/`ENOEXEC` to exit 126 and `ENOENT` to 127.
---@param spec table
function proc.exec(spec) end

---`proc.getfd(pid_or_proc, n, {mode=}) -> Fd`
---
---Copies descriptor `n` out of another process. `pid` is 1 to 4194304 and
---`n` 0 to 2^31-1 (exact integers: `2^32 + pid` is an error, not `pid`); a
---pid with no process behind it is `ESRCH` (`there is no process 999999`) in
---both modes. Two kernel mechanisms, with
---different meanings:
---- `mode = "dup"` (**the default**): `pidfd_getfd(2)`. The copy is the *same
---  open file description* as the target's: the file offset, `O_APPEND` and
---  `O_NONBLOCK` are shared, so reading from the copy moves the target's
---  offset, and flipping `O_NONBLOCK` changes it for the target too. It works
---  for every kind of descriptor: sockets, pipes, eventfds, pidfds. It is the
---  default because it is the exact object, and because sockets, the usual
---  thing to take, cannot be reopened.
---- `mode = "reopen"`: opens `/proc/PID/fd/N`. A *new* open file description
---  of the same file, with its own offset (0) and flags (the target's access
---  mode and `O_APPEND`). A socket gives `ENXIO` (there is nothing to open;
---  the error says to use `"dup"`).
---
---Taking a descriptor needs ptrace access to the target: `PTRACE_MODE_ATTACH`
---for `pidfd_getfd`, `PTRACE_MODE_READ` for `/proc/PID/fd`. That means the
---same real uid and gid as the target and a dumpable target (not setuid, no
---`prctl(PR_SET_DUMPABLE, 0)`), or `CAP_SYS_PTRACE` over it; Yama's
---`kernel.yama.ptrace_scope` may restrict it further. Without it the error is
---`EPERM` (or `EACCES` for `"reopen"`) and says so. Given a `Proc`, its
---pidfd is used, so a recycled pid cannot be hit; given a number, a pidfd is
---opened for it first.
---@param pid_or_proc any
---@param n? integer
---@param opts? table
---@return Fd
function proc.getfd(pid_or_proc, n, opts) end

---`proc.self() -> table`
---
---`{pid=, ppid=, uid=, gid=, subreaper=}` of this process.
---@return table
function proc.self() end

---`proc.pidfd_open(pid) -> h`
---
---A pidfd for process `pid` (`pidfd_open(2)`, close-on-exec). On Linux 6.9
---and newer its inode (`fd.info(h).inode`) names that process for the whole
---boot, so `PID:INODE` (as util-linux writes it) cannot be fooled by a reused
---pid; `fdwire send --pid PID:INODE` checks it before and after taking the
---descriptors.
---@param pid any
---@return Fd
function proc.pidfd_open(pid) end

---@class Proc
local Proc = {}

---`Proc:pid() -> number`
---
---The child's pid.
---@return integer
function Proc:pid() end

---`Proc:pidfd() -> Fd`
---
---A new handle on the child's pidfd (obtained from `clone3` itself, so
---there is no window in which the pid could be recycled). Raises once the
---child has been reaped.
---@return Fd
function Proc:pidfd() end

---`Proc:wait(opts) -> code_or_signal, status`
---
---Waits (cooperatively: other tasks run) until the child exits and reaps it.
---Returns the exit code, or the signal name (`"SIGKILL"`) if a signal ended
---it, and a table `{pid=, code=}` or `{pid=, signal=, signo=, core=}`.
---`opts.timeout` (seconds) raises `ETIMEDOUT` when it runs out; the child
---keeps running. Any number of tasks can wait for any number of children at
---once; waiting again after the end returns the same status.
---@param opts? table
---@return any code_or_signal
---@return any status
function Proc:wait(opts) end

---`Proc:kill(sig)`
---
---Sends `sig` (`"TERM"`, `"SIGKILL"`, `9`; default SIGTERM) through the pidfd
---(`pidfd_send_signal`). Raises `ESRCH` once the child has been reaped.
---@param sig integer|string
function Proc:kill(sig) end

---`Proc:running() -> boolean`
---
---Whether the child is still running (reaping it if it has ended).
---@return boolean
function Proc:running() end

---`Proc:ready(opts) -> table`
---
---For a child started with `notify = true` or `notify_fd = N`: waits until it
---says `READY=1` (or writes its newline) and returns
---`{ready=true, via="notify_socket"|"notify_fd", status=, vars={}, fds={}, names={}}`:
---`status` is the last `STATUS=`, `vars` the last value of every `KEY=VALUE`
---received, `fds` the descriptors sent with `FDSTORE=1` (handed out once, as
---owned handles) and `names` their `FDNAME=`s. Fds sent without `FDSTORE=1`
---are closed, as systemd does. Raises `ECHILD` if the child exits first (the
---message gives its status and last `STATUS=`), `EPIPE` if it closes its
---`notify_fd` without a newline, `ETIMEDOUT` after `opts.timeout`, and
---`EINVAL` for a child started without either option. Later calls return at
---once.
---@param opts? table
---@return table
function Proc:ready(opts) end

---`Proc:notices() -> table`
---
---What a child started with `notify = true` has said so far, read without
---waiting: `{ready=, via=, status=, vars={}, messages=, dropped=, watchdog=,
---reloading=, stopping=, stored=, log={}}`. `messages` counts accepted
---messages and `dropped` refused ones (a sender that is not the child, its
---session, cgroup or descendants; a message over 4096 bytes); `watchdog`
---counts `WATCHDOG=1`; `reloading` and `stopping` are the last
---`RELOADING=`/`STOPPING=` state (`READY=1` ends a reload); `stored` is how many
---`FDSTORE=1` descriptors wait for `p:fdstore()`; `log` holds the last 64
---messages as `"pid N: text"` (dropped ones as `"dropped pid N: reason"`).
---Works after the child has exited. `nil` for a child started without
---`notify` or `notify_fd`.
---@return table
function Proc:notices() end

---`Proc:fdstore() -> fds, names`
---
---Hands over the descriptors the child sent with `FDSTORE=1` that `p:ready()`
---has not already returned, as owned handles, with their `FDNAME=` (default
---`"stored"`). Like systemd's store, they outlive the child: after it exits
---they are kept (as handles of the runtime, closed when the script ends)
---until this call takes them.
---@return Fd[]
---@return any names
function Proc:fdstore() end

---`Proc:getfd(n, opts) -> Fd`
---
---`proc.getfd(p, n, opts)`.
---@param n integer
---@param opts? table
---@return Fd
function Proc:getfd(n, opts) end

---`Proc:stdin() -> Fd`
---
---The parent's (write) end of the child's stdin when spawned with
---`stdin = "pipe"`, else nil. It is an ordinary handle: close it to send EOF.
---@return Fd
function Proc:stdin() end

---`Proc:stdout() -> Fd`
---
---The parent's (read) end of the child's stdout when spawned with
---`stdout = "pipe"`, else nil.
---@return Fd
function Proc:stdout() end

---`Proc:stderr() -> Fd`
---
---The parent's (read) end of the child's stderr when spawned with
---`stderr = "pipe"`, else nil.
---@return Fd
function Proc:stderr() end

topo = {}

---`topo.loading() -> boolean`
---
---True while `topo.load` (`fdwire up`, `fdwire test`, `fdwire graph`) reads a
---topology file, false when the file runs as a script; a file that does more
---than `topo.run_main` when run (`scripts/parallel-netns.topo.lua` runs two
---topologies at once) returns its definition when loading.
---@return boolean
function topo.loading() end

---`topo.define(spec)`
---
---Validates `spec` and returns its definition (which `topo.up`, `topo.graph` accept as well). Raises a spec
---error naming the place.
---@param spec table
function topo.define(spec) end

---`topo.up(spec, opts)`
---
---Makes the sockets and pipes, starts the processes and returns a `Topology` once every process has
---started and each with a ready check is ready (or the run has already ended: `Topology:wait` then says
---why). `opts.echo = true` (or a function taking a line) prints the processes' output (an echo function
---that raises fails the run, naming the process and the error, and ends that stream's capture); `opts.signals =
---true` makes SIGINT/SIGTERM end the run with an ordered teardown; `opts.expect_failure` is for tests
---(see `T:up`). Any other key is an error. Raises on a spec error, when a `path` socket's name is taken
---(see above), or when the sockets and pipes cannot be made (after cleaning up).
---@param spec table
---@param opts? table
function topo.up(spec, opts) end

---`topo.run_main(spec, opts)`
---
---What a topology file ends with: `return topo.run_main(spec)`. Run as a script (`fdwire FILE`), it runs the
---topology with output echo, prints the summary and ends the script with the result's exit code. While
---`topo.load` (and so `fdwire up`, `fdwire graph`) reads the file, it just returns the spec.
---@param spec table
---@param opts? table
function topo.run_main(spec, opts) end

---`topo.load(path)`
---
---Reads a topology file and returns its definition. The file returns its spec, or ends with
---`return topo.run_main(spec)`. A missing file raises `ENOENT`; a syntax error says
---`FILE:LINE:COLUMN: syntax error near 'x'` (or the last line, for a file that ends inside an unclosed
---`{`, `(` or block). In a test file, a relative path is read next to the test file.
---@param path string
function topo.load(path) end

---`topo.graph(spec)`
---
---Returns the topology as Graphviz DOT: processes are nodes; each socket and pipe is an edge from the
---process holding one end to the process holding the other (clients to listeners, writers to readers, pair
---ends both ways), labelled with its name and with the fd number at each end; an object with nobody on
---one side is a small node of its own; dependencies are dashed.
---@param spec table
function topo.graph(spec) end

---`topo.summary(result)`
---
---The printed summary of a result: one line per process (pid, state, exit status, duration, time to
---ready), then failures and notes. `tostring(result)` gives the same.
---@param result table
function topo.summary(result) end

task = {}

---`task.spawn(fn, ...) -> t`
---
---Starts `fn(...)` as a new task and returns its `Task`. It first runs when
---the current task next waits or ends.
---@param fn function
---@param ... any
---@return Task
function task.spawn(fn, ...) end

---`task.sleep(seconds)`
---
---Parks the current task for `seconds` (fractions allowed). `seconds` is a
---number `>= 0`; negative, `nan` and strings are argument errors. A duration
---longer than the clock holds (2^63 ns, about 292 years: `1e10`, `math.huge`)
---sleeps until the end of it, never returning at once.
---@param seconds number
function task.sleep(seconds) end

---`task.wait(t1, t2, ..., opts) -> results`
---
---Waits for the tasks to finish. With one task, returns its results; with
---several, the first result of each, in order. If a task failed, its error is
---raised here (and is then not reported as an unawaited failure).
---`opts.timeout` bounds the wait (`0`: only tasks already finished). Waiting for oneself raises `EDEADLK`; when
---every task waits for another and nothing else can wake them, the script
---fails with `EDEADLK`.
---@param t1 Task
---@param t2? Task
---@param ... any
---@return any
function task.wait(t1, t2, ...) end

---`task.current() -> t`
---
---The running task.
---@return Task
function task.current() end

---`task.yield()`
---
---Lets every other runnable task run once, then continues.
function task.yield() end

---`task.timeout(seconds, fn, ...) -> results`
---
---Runs `fn(...)` in the current task; every wait inside it ends with
---`ETIMEDOUT` once `seconds` have passed (the nearer of this deadline and a
---call's own `timeout` wins, and the error says which: `the enclosing
---task.timeout of 5s expired while waiting here`, or the call's own `no data
---within 1s`). Returns `fn`'s results or raises its error. `seconds` follows
---`task.sleep`'s rules (`0`: no wait inside may block; beyond the clock: no
---deadline); `fn` must be a function. Both are checked with structured
---argument errors.
---@param seconds number
---@param fn? function
---@param ... any
---@return any
function task.timeout(seconds, fn, ...) end

---`task.event(opts) -> ev`
---
---A task-level wake-up: an `Event` that tasks wait on and other tasks set or
---pulse, with no descriptor and no system call (it replaces the socketpair
---"bell" a script would otherwise write to wake another task). `opts.set`
---(boolean, default `false`) is the initial state. Events live in one
---runtime; they are not shared with other processes.
---@param opts? table
---@return any ev
function task.event(opts) end

---@class Task
local Task = {}

---`Task:wait(opts) -> results`
---
---Same as `task.wait(t, opts)`.
---@param opts? table
---@return any
function Task:wait(opts) end

---`Task:cancel()`
---
---Ends the task's current (or next) wait with an `ECANCELED` error, which
---unwinds it unless it catches the error. A task cannot cancel itself. A
---cancelled task's end is not reported as a failure.
function Task:cancel() end

---`Task:done() -> boolean`
---
---Whether the task has finished (returned or failed).
---@return boolean
function Task:done() end

---@class Event
local Event = {}

---`Event:wait(opts) -> true`
---
---Returns `true` at once when the event is set; otherwise parks the task
---until `ev:set()` or `ev:notify()`. `opts.timeout` bounds the wait (`0`:
---only an event already set, else `ETIMEDOUT` at once); an enclosing
---`task.timeout` and `Task:cancel` end it as they end any wait. A wait that
---ends without a set or notify (timeout, cancel) leaves nothing behind on the
---event. Waiting on a closed event raises `EBADF`. When every task waits and
---nothing else could wake one (an event nobody keeps), the script fails with
---`EDEADLK` instead of hanging.
---@param opts? table
---@return any true
function Event:wait(opts) end

---`Event:set() -> woken`
---
---Sets the event and wakes every task waiting on it, in the order they began
---waiting; it stays set (later waits return at once) until `ev:clear()`.
---Returns how many tasks it woke.
---@return any woken
function Event:set() end

---`Event:notify(n) -> woken`
---
---Wakes up to `n` (an integer `>= 1`; default: all) of the tasks waiting
---now, first come first served, and leaves the event clear: a pulse, for the
---condition-variable pattern `while not ready() do ev:wait() end`. That loop
---cannot miss a notify, because tasks take turns only at waits: nothing runs
---between its check and its `wait`. A notify with nobody waiting is not
---remembered. Returns how many tasks it woke.
---@param n integer
---@return any woken
function Event:notify(n) end

---`Event:clear()`
---
---Clears the event.
function Event:clear() end

---`Event:is_set() -> boolean`
---
---Whether the event is set.
---@return boolean
function Event:is_set() end

---`Event:waiting() -> n`
---
---How many tasks wait on the event now.
---@return integer
function Event:waiting() end

---`Event:close()`
---
---Ends every wait on the event with `EBADF` and refuses any later use except
---`close` (idempotent), `waiting` and `tostring` (`<event set>`, `<event
---clear, 2 waiting>`, `<event closed>`). Closing is optional: an event holds
---no descriptor.
function Event:close() end

fs = {}

---`fs.stat(path) -> table`
---
---`lstat(2)` of `path`: `{type=, mode=, uid=, gid=, dev=, ino=, size=}`, where
---`type` is `"socket"`, `"dir"`, `"file"`, `"link"`, `"fifo"`, `"char"` or
---`"block"` and `mode` holds the permission bits only. A final symbolic link is
---not followed. Raises `lstat PATH: ENOENT: ...` when nothing is there.
---@param path string
---@return table
function fs.stat(path) end

---`fs.exists(path) -> bool`
---
---Whether `path` names anything (a dangling symbolic link counts). Never raises
---for a missing path.
---@param path string
---@return boolean
function fs.exists(path) end

---`fs.mkdir(path, mode)`
---
---Makes a directory (`mode` default 0777, before the umask; an integer 0 to
---`0o7777`, anything else an argument error). `EEXIST` when it is already
---there.
---@param path string
---@param mode? integer
function fs.mkdir(path, mode) end

---`fs.chmod(path, mode)`
---
---Sets the permission bits of `path`.
---@param path string
---@param mode? integer
function fs.chmod(path, mode) end

---`fs.unlink(path)`
---
---Removes a name that is not a directory.
---@param path string
function fs.unlink(path) end

---`fs.umask(mask) -> old`
---
---Sets the process's file creation mask and returns the previous one.
---`mask` is 0 to `0o777` (larger is an argument error, not cut down). The
---tools bind path sockets under umask 0177 so a socket is 0600 from birth.
---@param mask integer
---@return integer
function fs.umask(mask) end

---`fs.unlink_on_close(h, path)`
---
---Removes `path` when handle `h` is closed: by `h:close()`, or when the runtime
---ends, also on SIGINT, SIGTERM, SIGHUP and SIGQUIT, and after a SIGKILL of
---fdwire by its warden (guide.md, "Children never outlive fdwire"). It checks
---first that `path` is still the inode it was when this was called, so a newer
---socket of the same name is left alone. Until then it holds that inode open (one O_PATH descriptor, not a
---handle of yours), so the file system cannot hand its inode number to a
---newcomer and fool the check. The tools use it so that no socket file outlives
---its listener. (Go callers: `runtime/guard.UnlinkOnClose`.)
---@param h Fd
---@param path? string
function fs.unlink_on_close(h, path) end

---`fs.wait_path(path, opts) -> path`
---
---Waits until `path` exists, with inotify, not by polling: a watch goes on the
---nearest existing ancestor directory and moves down as directories appear, and
---the path is checked after each watch is placed, so a creation is never missed.
---`opts.timeout` (seconds) bounds the wait (`wait_path PATH: ETIMEDOUT`); so does
---an enclosing `task.timeout`. Cooperative: other tasks run meanwhile. The
---inotify descriptor is closed however the wait ends. (Go callers:
---`runtime/fswait.Wait`.)
---
---```lua
---fs.wait_path(os.getenv("XDG_RUNTIME_DIR") .. "/fdwire/test", {timeout = 5})
---```
---@param path string
---@param opts? table
---@return string
function fs.wait_path(path, opts) end

user = {}

---`user.lookup(user) -> {name=, uid=, gid=}`
---
---Resolves a user name or a numeric uid through the user database. A uid is
---an exact integer from 0 to 4294967294: `user.lookup(2^32)` is an argument
---error (it used to find root). A numeric
---uid without an entry gets gid = uid; `"nobody"` without an entry is 65534.
---Unknown names raise `lookup user NAME: ENOENT`.
---@param user string|integer
---@return table
function user.lookup(user) end

---`user.drop(user) -> {name=, uid=, gid=}`
---
---Drops root for good: the supplementary groups are cleared (none of root's
---stay; the same rule as `proc.spawn{uid=}`, one implementation), then real, effective and saved gid, then uid (`setgroups`, `setresgid`,
---`setresuid`; Go applies them to every thread). `user` is a name, a uid, or a
---table `{uid=, gid=, name=}` (ids checked as for `user.lookup`). It fails unless afterwards `setresuid(0)` is refused,
---so a success means root cannot come back. Without root it fails with `EPERM`.
---(Go callers: `runtime/privdrop`.)
---@param user string|integer
---@return table
function user.drop(user) end

clock = {}

---`clock.monotonic() -> seconds`
---
---Seconds (a float) on CLOCK_MONOTONIC (since boot, the same clock in every
---process on the machine, so it compares with a child's timestamps); for
---measuring intervals and deadlines, never affected by changes to the wall
---clock. `os.time()` only has whole seconds.
---@return number
function clock.monotonic() end

---@class fdwire.signal
local signal = {}

---`signal.watch(names) -> h`
---
---Catches the signals named in the list (`{"HUP", "TERM"}`; `SIG` prefix
---optional) and returns a handle readable with one byte, the signal number,
---per signal that arrived. Until `h:close()`, those signals no longer have
---their default effect (for INT and TERM: ending fdwire; scripts run by
---`fdwire FILE.lua` still have the CLI's own INT/TERM handler, which ends the
---run). `fdwire activate` forwards what it reads to COMMAND; `fdwire hold`
---goes lame-duck on TERM. KILL and STOP cannot be caught; URG, CHLD, PROF and
---the fault signals (SEGV, BUS, FPE, ILL) belong to the Go runtime and fdwire
---and are refused. More than a pipe buffer of unread signals are dropped, not
---queued without bound.
---```lua
---local sigs = signal.watch{"HUP", "USR1"}
---local n = sigs:read(1):byte()   -- waits (cooperatively) for one
---p:kill(n)                        -- pass it on
---```
---@param names any
---@return Fd
function signal.watch(names) end

---`signal.stop()`
---
---Stops this process (SIGSTOP to itself) until a SIGCONT arrives. A signal
---forwarder calls it after passing on TSTP, TTIN or TTOU, so that job control
---sees the whole job stop, as `fdwire activate` does.
function signal.stop() end

---@class fdwire.holder
local holder = {}

---`holder.store(addr, id, fd, opts)`
---
---Stores a copy of handle `fd` under `id`. An `id` already held is `EBUSY`
---unless `opts.replace` is true (then the old descriptor is closed). `opts.expire` (seconds) makes the holder close it
---after that long; a retrieve afterwards fails with `EKEYEXPIRED`. The caller
---keeps its own handle.
---@param addr string|AddrHandle
---@param id? string
---@param fd? Fd
---@param opts? table
function holder.store(addr, id, fd, opts) end

---`holder.retrieve(addr, id, opts) -> fd`
---
---Returns a new handle on the held descriptor. It is the same open file
---description as the holder's (SCM_RIGHTS duplicates, it does not reopen), so
---offsets and status flags are shared. The holder keeps its copy.
---@param addr string|AddrHandle
---@param id? string
---@param opts? table
---@return Fd
function holder.retrieve(addr, id, opts) end

---`holder.delete(addr, id, opts)`
---
---Makes the holder close its copy.
---@param addr string|AddrHandle
---@param id? string
---@param opts? table
function holder.delete(addr, id, opts) end

---`holder.list(addr, opts) -> {id, ...}`
---
---The identifiers this client may list, sorted.
---@param addr string|AddrHandle
---@param opts? table
---@return table
function holder.list(addr, opts) end

---`holder.dump(addr, opts) -> {{id=, fd=, expire=}, ...}`
---
---Every descriptor this client may dump, each as a fresh handle, with the
---seconds its expiry has left (`nil`: none). The caller closes the handles.
---@param addr string|AddrHandle
---@param opts? table
---@return table
function holder.dump(addr, opts) end

---`holder.restore(addr, entries, opts) -> n`
---
---Stores every entry of a dump (`{id=, fd=, expire=}`) into the holder at
---`addr`; returns how many. An identifier already held there stops it with
---`EBUSY` unless `opts.replace`.
---@param addr string|AddrHandle
---@param entries? table
---@param opts? table
---@return integer
function holder.restore(addr, entries, opts) end

---`holder.transfer(from, to, opts) -> n`
---
---Dumps the holder at `from` and restores it into the holder at `to`, then
---closes the copies it held in between: the whole state moves, with remaining
---expiries, and `from` still holds its own copies until told to delete them.
---@param from Fd
---@param to? Fd
---@param opts? table
---@return integer
function holder.transfer(from, to, opts) end

---@class Topology
local Topology = {}

---`Topology:wait(opts)`
---
---Waits for the run to end and its teardown to finish; returns `ok, result`. `result` has `ok`, `code`
---(the exit status above), `reason` (`"completed"`, `"failed"`, `"timeout"`, `"down"`, `"interrupted"`,
---`"setup"`), `failures` and `notes` (lists of strings), `duration`, `cgroup` (whether the run had a
---cgroup of its own) and, when not, `cgroup_error` (why, as an error value: no delegation, no cgroup v2),
---and `procs[name]` with `pid`,
---`state` (`"exited"`, `"stopped"` by the teardown, `"killed"`, `"not started"`, `"failed to start"`),
---`status` (`"exit 0"`, `"signal SIGTERM"`), `exit`, `signal`, `duration`, `ready_after`, `stdout`,
---`stderr`, and for `ready = {notify = true}` processes `notify` (`status`, `messages`, `dropped`,
---`watchdog`, `reloading`, `stopping`, `vars`: see Notify) and `fdstore_closed` (the `FDNAME`s of stored
---descriptors the teardown closed). A process's `duration` and `ready_after` count from just before its
---fork, so they are never shorter than the time the process itself saw. `opts.timeout` bounds the wait (ETIMEDOUT). `assert(top:wait())` fails with the summary.
---@param opts? table
function Topology:wait(opts) end

---`Topology:down(opts)`
---
---Ends the run now, tears it down, and returns `ok, result` as `wait` does. Processes that must exit and
---are still running fail their expectation; services stopped by it do not.
---@param opts? table
function Topology:down(opts) end

---`Topology:proc(name)`
---
---The process's `Proc` (nil before it starts): `:pid()`, `:kill(sig)`, `:getfd(n)`... Its exit is waited
---for by the topology; use `Topology:status` rather than `Proc:wait`.
---@param name string
function Topology:proc(name) end

---`Topology:status(name)`
---
---The process's state now: `state` (`"pending"`, `"running"`, `"exited"`), `pid`, `ready`, `status`, or,
---after the run, its entry in `result.procs`.
---@param name string
function Topology:status(name) end

---`Topology:stdout(name)`
---
---Everything the process has written to its captured stdout so far.
---@param name string
function Topology:stdout(name) end

---`Topology:stderr(name)`
---
---The same for stderr.
---@param name string
function Topology:stderr(name) end

---`Topology:dir()`
---
---The run directory (a fresh directory under `$TMPDIR`, removed by the teardown).
function Topology:dir() end

---`Topology:result()`
---
---The result once the run has ended, else nil.
function Topology:result() end

---`Topology:graph()`
---
---`topo.graph` of this topology, with each node also showing its pid and state.
function Topology:graph() end

---`Topology:fdstore(name)`
---
---Returns `fds, names`: the descriptors the process sent with `FDSTORE=1` over `$NOTIFY_SOCKET` so far
---(also after it exited) and their `FDNAME=`s (default `"stored"`). The caller owns them; those nobody
---takes are closed by the teardown, and the summary says so.
---@param name string
function Topology:fdstore(name) end

---`Topology:verify(opts)`
---
---Checks the live system against the spec, from the outside, and returns `ok, message, problems`:
---`message` is one line when all is well and otherwise lists each problem on a line of its own, so
---`assert(top:verify())` fails with the whole list; `problems` is that list (empty when ok), and a fourth
---value counts the processes checked. For every running process it reads `/proc/PID/fd`:
---
---- each mapped fd must be open on the very object fdwire made: the same device and inode (pipes and
---  sockets have inodes of their own), for pipe ends also the access mode from fdinfo; and every process
---  handed the same end must hold the same *open file description* of it, checked with kcmp(2)
---  `KCMP_FILE` (an end re-opened through `/proc/PID/fd/N` is the same inode but a new description);
---- the ends of a socket pair held by two processes must be the two ends of one connection (sock_diag
---  `UNIX_DIAG_PEER`; where the kernel lacks unix_diag, `/proc/net/unix` at least confirms the state),
---  and handed-over listeners must be listening;
---- no process may hold an fd the spec did not give it that is on an object of this run (device and
---  inode) or is the same open file description as one fdwire itself holds (kcmp). Descriptors on
---  anonymous inodes (eventfd, epoll, signalfd, timerfd: the kernel gives all of them one inode) are
---  never compared by inode, only by kcmp, so a child's own eventfd is not mistaken for fdwire's.
---
---With `{strict = true}` any fd beyond the map is a problem (a program that opens files or accepts
---connections then fails it), with one rule for runtimes: a process holding exactly one
---`anon_inode:[eventpoll]` and one `anon_inode:[eventfd]` beyond its map is not flagged for that pair,
---which is what the Go runtime's poller (every fdwire child), libuv and glib open for themselves. A lone
---eventfd, a second epoll, or anything else is flagged. Processes that have exited (also while they
---were being read) are skipped. kcmp needs ptrace access to the children (same uid, or root); where the
---kernel refuses it the description checks are skipped and the inode checks remain.
---@param opts? table
function Topology:verify(opts) end

---@class T
local T = {}

---`T:ok(v, msg)`
---
---Fails the test unless `v` is true; returns `v`. `t:ok(top:wait())` fails with the run's summary.
---@param v any
---@param msg? string
function T:ok(v, msg) end

---`T:eq(got, want, msg)`
---
---Fails unless `got == want`, showing both.
---@param got any
---@param want? any
---@param msg? string
function T:eq(got, want, msg) end

---`T:match(s, pattern, msg)`
---
---Fails unless the string `s` matches the Lua pattern.
---@param s Fd
---@param pattern? string
---@param msg? string
function T:match(s, pattern, msg) end

---`T:fails(fn, pattern)`
---
---Fails unless `fn()` raises an error whose text matches `pattern`; returns the error.
---@param fn function
---@param pattern? string
function T:fails(fn, pattern) end

---`T:fail(msg)`
---
---Fails the test now.
---@param msg string
function T:fail(msg) end

---`T:log(...)`
---
---Records a line, printed with a failure (and with `-v` for passing tests).
---@param ... any
function T:log(...) end

---`T:dir()`
---
---A fresh directory for this test, removed when it ends.
function T:dir() end

---`T:cleanup(fn)`
---
---Runs `fn` when the test ends (last registered first), pass or fail.
---@param fn function
function T:cleanup(fn) end

---`T:up(spec, opts)`
---
---`topo.up` for a test (with `-v`, output is echoed); the topology is torn down when the test ends, and a
---failed expectation fails the test. `opts.expect_failure = true` or a Lua pattern: the test expects
---this topology to fail (with a failure line matching the pattern) and fails if it does not.
---@param spec table
---@param opts? table
function T:up(spec, opts) end

