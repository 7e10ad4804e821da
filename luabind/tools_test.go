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
