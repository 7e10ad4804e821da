package luabind

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fdwire/fdwire/internal/leakcheck"
	"github.com/fdwire/fdwire/runtime/fswait"
)

// In-process tests of the tools' Lua: each tool's main(argv) runs without
// spawning fdwire, and the support modules (fs, user, clock, fd.ready).

func TestToolArgsParser(t *testing.T) {
	// Each bad command line is reported on stderr, with the way to help.
	mustRunStderrLines(t, `
		local args = require "fdwire.tools.args"
		local spec = { name = "x", usage = "fdwire x", options = {
			{ "f", "fd", arg = "FD", list = true, int = true },
			{ "t", "timeout", arg = "SECS", number = true, default = 10 },
			{ "a", "all" }, { "b", "brief" },
			{ "p", "pair", arg = { "N", "S" }, list = true, int = true },
		}, terminators = { "--", "--run" } }
		local o, pos, cmd = args.parse(spec, { "-f3", "--fd", "4", "--fd=5", "-ab", "-t0.5", "-p", "1", "s", "x", "--run", "cat", "-n" })
		assert(o.fd[1] == 3 and o.fd[2] == 4 and o.fd[3] == 5, "fds")
		assert(o.all and o.brief and o.timeout == 0.5, "flags")
		assert(o.pair[1][1] == 1 and o.pair[1][2] == "s", "pair")
		assert(pos[1] == "x" and #pos == 1, "positional")
		assert(cmd[1] == "cat" and cmd[2] == "-n", "command")
		local o2 = args.parse(spec, {})
		assert(o2.timeout == 10 and #o2.fd == 0, "defaults")
		assert(select(2, args.parse(spec, { "--fd", "x" })) == 2, "bad int")
		assert(select(2, args.parse(spec, { "--nope" })) == 2, "unknown")
		assert(select(2, args.parse(spec, { "--all=1" })) == 2, "flag with value")
		assert(args.help(spec):find("%-t, %-%-timeout SECS"), "help")
	`, `fdwire x: --fd expects an integer, got "x"`, `try 'fdwire x --help'`,
		`fdwire x: unknown option --nope`, `try 'fdwire x --help'`,
		`fdwire x: --all takes no value`, `try 'fdwire x --help'`)
}

// The named spec form and the number rules: exponents, exact integers
// in range, durations (0, inf, saturation), comma lists, aliases, fixed
// values, unique prefixes with "did you mean", --run --, COMMAND without
// --, and options that stand alone.
func TestToolArgsSpecForm(t *testing.T) {
	mustRunStderrLines(t, `
		local args = require "fdwire.tools.args"
		local n = args.parse_number
		assert(n("1e3") == 1000 and n("2.5") == 2.5 and n(".5") == 0.5 and n("5.") == 5 and n("-2") == -2)
		assert(n("1e-3") == 0.001 and n("0.1e1") == 1 and n("00012") == 12)
		for _, bad in ipairs { "", "e3", "1e", "0x10", "1.2.3", " 1", "1 ", "inf", "nan", "--1" } do
			assert(n(bad) == nil, "parse_number accepted " .. bad)
		end
		local spec = { name = "y", usage = "fdwire y", options = {
			{ long = "fd", short = "f", arg = { "N", "S" }, type = "int", min = 0, list = true, comma = true },
			{ long = "stdin", arg = "S", key = "fd", list = true, fixed = 0 },
			{ long = "blocking", short = "b" }, { long = "block-size", arg = "N", type = "int", max = 10 },
			{ long = "dup" }, { long = "pidfd-getfd", key = "dup" },
			{ long = "timeout", short = "t", arg = "SECS", type = "duration", default = 10 },
			{ long = "idle", arg = "SECS", type = "duration", positive = true },
			{ long = "name", arg = "N", list = true, split = ":" },
			{ long = "pass", arg = "W", values = { "listener", "connections" } },
			{ long = "version" },
		}, terminators = { "--", "--run" }, positional = { min = 0, max = 0, names = "" },
		command = "required", standalone = { "version" } }
		local o, pos, cmd = args.parse(spec, { "--fd", "0,1,2", "s", "--stdin", "z", "-t", "1e3",
			"--pidfd-g", "--name", "a:b", "--name=c", "--run", "--", "cat", "-n" })
		assert(#o.fd == 4 and o.fd[3][1] == 2 and o.fd[3][2] == "s" and o.fd[4][1] == 0 and o.fd[4][2] == "z", "fd pairs")
		assert(o.timeout == 1000 and o.dup and #o.name == 3 and o.name[3] == "c", "values")
		assert(cmd[1] == "cat" and cmd[2] == "-n" and #cmd == 2, "--run --")
		o, pos, cmd = args.parse(spec, { "-t", "inf", "cat", "-t", "1" })
		assert(o.timeout == math.huge and cmd[1] == "cat" and cmd[2] == "-t", "COMMAND without --")
		assert(args.parse(spec, { "-t", "1e30", "x" }).timeout == math.huge, "saturates")
		assert(args.parse(spec, { "-t", "0", "x" }).timeout == 0, "0 is a duration")
		assert(args.parse(spec, { "--version" }).version, "standalone")
		local function bad(argv) return select(2, args.parse(spec, argv)) == 2 end
		assert(bad { "--block", "x" }, "ambiguous")
		assert(bad { "--blokcing", "x" }, "misspelt")
		assert(bad { "-t", "-1", "x" }, "negative duration")
		assert(bad { "--idle", "0", "x" }, "positive")
		assert(bad { "--block-size", "11", "x" }, "int range")
		assert(bad { "--block-size", "1.5", "x" }, "not an integer")
		assert(bad { "--fd", "0,,1", "s", "x" }, "empty item")
		assert(bad { "-f", "0", "--run", "x" }, "--run as SOCKSPEC")
		assert(bad { "--pass", "both", "x" }, "values")
		assert(bad { "--fd", "0", "s" }, "missing COMMAND")
		assert(args.parse(spec, { "--blockin", "x" }).blocking, "unique prefix")
		local names = {}
		for _, o in ipairs(args.options(spec)) do names[#names + 1] = (o.short or "") .. "/" .. o.long .. "/" .. o.type .. "/" .. o.key end
		assert(names[2] == "/stdin/string/fd" and names[1] == "f/fd/int/fd", table.concat(names, " "))
	`, "fdwire y: option --block is ambiguous: --blocking, --block-size", "try 'fdwire y --help'",
		"fdwire y: unknown option --blokcing; did you mean --blocking?", "try 'fdwire y --help'",
		"fdwire y: -t expects non-negative seconds, got -1", "try 'fdwire y --help'",
		"fdwire y: --idle must be more than 0 (inf: never)", "try 'fdwire y --help'",
		"fdwire y: --block-size must be from -2147483648 to 10, got 11", "try 'fdwire y --help'",
		`fdwire y: --block-size expects an integer, got "1.5"`, "try 'fdwire y --help'",
		`fdwire y: --fd has an empty item in "0,,1"`, "try 'fdwire y --help'",
		"fdwire y: -f needs N S before --run", "try 'fdwire y --help'",
		`fdwire y: --pass takes listener, connections; got "both"`, "try 'fdwire y --help'",
		"fdwire y: missing COMMAND", "try 'fdwire y --help'")
}

func TestToolMainInProcess(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	// send's main against a receiver task in the same runtime; then the
	// exit statuses for a missing receiver and a bad command line, each
	// reported on stderr.
	mustRunStderrLines(t, `
		local common = require "fdwire.tools.common"
		local send = require "fdwire.tools.send"
		local recv = require "fdwire.tools.recv"
		local target = common.resolve("inproc")
		local l = common.listen(target)
		assert(fs.stat(target.path).mode == 384, "socket mode 0600")
		local r, w = fd.pipe()
		local got
		local rt = task.spawn(function() got = recv.serve(l, target, 1, {}) end)
		assert(send.main{ "-f", tostring(w:num()), "inproc" } == 0)
		rt:wait()
		assert(#got == 1)
		got[1]:write("through\n")
		got[1]:close(); w:close()
		assert(r:read() == "through\n")
		r:close()
		l:close()
		assert(not fs.exists(target.path), "socket removed with its listener")
		assert(send.main{ "-t", "1", "inproc" } == 3)
		assert(send.main{ "--bogus" } == 2)
		assert(send.main{ "--help" } == 0)
	`, "fdwire send: send: ETIMEDOUT: no receiver at "+filepath.Join(dir, "fdwire", "inproc")+" within 1 s (--blocking waits for one)",
		"fdwire send: unknown option --bogus", "try 'fdwire send --help'")
	// Cancelling the in-process daemon ends its main with ECANCELED,
	// which hold reports like any error that ends it.
	mustRunStderrLines(t, `
		local hold = require "fdwire.tools.hold"
		local holder = require "fdwire.holder"
		local name = "@fdwire-inproc-hold-" .. proc.self().pid
		local daemon = task.spawn(hold.main, { name })
		local r, w = fd.pipe()
		holder.store(name, "pipe", w, { wait = true })
		w:close()
		local w2 = holder.retrieve(name, "pipe")
		w2:write("held\n"); w2:close()
		assert(holder.list(name)[1] == "pipe")
		holder.delete(name, "pipe")
		assert(r:read() == "held\n")
		assert(r:read() == nil, "EOF once the holder's copy is gone")
		r:close()
		local ok, e = pcall(holder.retrieve, name, "pipe")
		assert(not ok and e.name == "ENOENT", tostring(e))
		ok, e = pcall(holder.store, name, "", fd.stdin)
		assert(not ok and e.name == "EINVAL")
		daemon:cancel()
	`, "fdwire hold: task: ECANCELED: operation canceled (cancelled)")
}

func TestToolHoldRulesParse(t *testing.T) {
	mustRun(t, `
		local hold = require "fdwire.tools.hold"
		local rules = hold.parse_rules([[
			# comment
			allow uid:1000 store,retrieve app/*
			deny gid:50 * *
			allow * list pub-?
		]])
		assert(hold.allows(rules, {uid=1000, gid=1}, "store", "app/x"))
		assert(not hold.allows(rules, {uid=1000, gid=1}, "delete", "app/x"))
		assert(not hold.allows(rules, {uid=1001, gid=50}, "list", "pub-1"))
		assert(hold.allows(rules, {uid=1001, gid=1}, "list", "pub-1"))
		assert(not hold.allows(rules, {uid=1001, gid=1}, "list", "pub-12"))
		assert(not hold.allows(rules, {uid=1001, gid=1}, "retrieve", "a.b"), "deny by default")
		local ok, e = pcall(hold.parse_rules, "allow uid:x * *", "f")
		assert(not ok and tostring(e):find("f:1: uid:x: not a number"), tostring(e))
		ok, e = pcall(hold.parse_rules, "allow uid:1 fly *", "f")
		assert(not ok and tostring(e):find("unknown operation fly"))
	`)
}

func TestFsModule(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "c")
	go func() {
		time.Sleep(50 * time.Millisecond)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o600)
	}()
	mustRun(t, `
		local p = ...
		local p = "`+p+`"
		assert(fs.wait_path(p, {timeout = 10}) == p)
		assert(fs.stat(p).type == "file" and fs.stat(p).mode == 384)
		local ok, e = pcall(fs.wait_path, p .. ".never", {timeout = 0.1})
		assert(not ok and e.name == "ETIMEDOUT", tostring(e))
		ok, e = pcall(fs.stat, p .. ".never")
		assert(not ok and e.name == "ENOENT")
		local d = "`+dir+`/d"
		fs.mkdir(d, 448)
		assert(fs.stat(d).mode == 448 and fs.stat(d).type == "dir")
		fs.chmod(d, 493)
		assert(fs.stat(d).mode == 493)
		assert(user.lookup("nobody").uid == 65534)
		assert(user.lookup(0).uid == 0)
		local t0 = clock.monotonic()
		task.sleep(0.05)
		assert(clock.monotonic() - t0 >= 0.05)
		local r, w = fd.pipe()
		ok, e = pcall(fd.ready, r, "r", {timeout = 0.05})
		assert(not ok and e.name == "ETIMEDOUT")
		w:write("x")
		assert(fd.ready(r) == "r")
		assert(fd.ready(w, "w") == "w")
		r:close() w:close()
	`)
	mustFail(t, `fs.wait_path(42)`, "bad argument #1 (path)")
	mustFail(t, `fs.chmod("/tmp")`, "bad argument #2 (mode)")
	mustFail(t, `user.lookup("no-such-user-fdwire")`, "ENOENT")
	mustFail(t, `fd.ready(fd.stdin, "x")`, "bad argument #2 (events)")
}

func TestFswaitGo(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "x", "y")
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.Mkdir(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o600)
	}()
	if err := fswait.Wait(p, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	err := fswait.Wait(p+"z", 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "ETIMEDOUT") {
		t.Fatalf("want ETIMEDOUT, got %v", err)
	}
}
