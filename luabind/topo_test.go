package luabind

import (
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestTopoFunctionList: the topology surface that luabind/topobind
// declares (read through topo._Topology and testing._T, for the
// docs-coverage test) is exactly what a running topology and a test
// case really offer.
func TestTopoFunctionList(t *testing.T) {
	out := mustRun(t, `
		local names = {}
		for k, v in pairs(require("fdwire.topo")) do
			if type(v) == "function" and k:sub(1, 1) ~= "_" then names[#names + 1] = "topo." .. k end
		end
		local top = topo.up({ procs = { a = { sh = "exit 0", expect = { exit = 0 } } } })
		top:wait()
		for k, v in pairs(getmetatable(top)) do
			if type(v) == "function" and k:sub(1, 2) ~= "__" then names[#names + 1] = "Topology:" .. k end
		end
		for k, v in pairs(require("fdwire.testing")._T) do
			if type(v) == "function" and k:sub(1, 2) ~= "__" then names[#names + 1] = "T:" .. k end
		end
		table.sort(names)
		print(table.concat(names, " "))
	`)
	got := strings.Fields(out)
	rt, err := newTestRuntime(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range rt.Functions() {
		if strings.HasPrefix(f, "topo.") || strings.HasPrefix(f, "Topology:") || strings.HasPrefix(f, "T:") {
			want = append(want, f)
		}
	}
	rt.Close()
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("topo functions:\n got  %v\n want %v", got, want)
	}
}

func TestTopoGlobalIsLazyAndRequireable(t *testing.T) {
	mustRun(t, `
		assert(rawget(topo, "up") == nil, "topo loaded before use")
		assert(type(topo.up) == "function")
		assert(require("topo").define == topo.define)
	`)
}

// TestTopoSpecErrors: each field's error names its place.
func TestTopoSpecErrors(t *testing.T) {
	cases := []struct{ spec, want string }{
		{`5`, `bad argument #1 (spec): expected a table, got number`},
		{`{}`, `procs: expected a table of processes`},
		{`{procz = {}}`, `spec.procz: unknown field (did you mean "procs"?)`},
		{`{name = 3, procs = {a = {sh = "x"}}}`, `name: expected a string, got number`},
		{`{timeout = -1, procs = {a = {sh = "x"}}}`, `timeout: expected a number of seconds > 0, got -1`},
		{`{grace = "x", procs = {a = {sh = "x"}}}`, `grace: expected a number of seconds >= 0`},
		{`{dir = 1, procs = {a = {sh = "x"}}}`, `dir: expected a directory path`},
		{`{sockets = 1, procs = {a = {sh = "x"}}}`, `sockets: expected a table`},
		{`{sockets = {api = {}}, procs = {a = {sh = "x"}}}`, `sockets.api: give exactly one of path=, abstract=, anon=true or pair=true`},
		{`{sockets = {api = {path = "a", anon = true}}, procs = {a = {sh = "x"}}}`, `(got path and anon)`},
		{`{sockets = {api = {anon = true, type = "raw"}}, procs = {a = {sh = "x", fds = {[3] = "api"}}}}`, `sockets.api.type: expected "stream", "dgram" or "seqpacket", got raw`},
		{`{sockets = {api = {anon = true, backlog = -1}}, procs = {a = {sh = "x", fds = {[3] = "api"}}}}`, `sockets.api.backlog: expected a number >= 0`},
		{`{sockets = {api = {path = ""}}, procs = {a = {sh = "x"}}}`, `sockets.api.path: expected a file name`},
		{`{sockets = {api = {abstract = 5}}, procs = {a = {sh = "x"}}}`, `sockets.api.abstract: expected a name or true`},
		{`{sockets = {["a b"] = {anon = true}}, procs = {a = {sh = "x"}}}`, `sockets.a b: names are letters`},
		{`{sockets = {api = {anon = true}}, procs = {a = {sh = "x"}}}`, `sockets.api: the anonymous socket is not given to any process`},
		{`{sockets = {l = {pair = true}}, procs = {a = {sh = "x"}}}`, `sockets.l: the pair socket is not given to any process`},
		{`{pipes = {p = 1}, procs = {a = {sh = "x"}}}`, `pipes.p: expected a table ({} is enough), got number`},
		{`{pipes = {p = {}}, procs = {a = {sh = "x"}}}`, `pipes.p: the pipe is not given to any process`},
		{`{sockets = {p = {anon = true}}, pipes = {p = {}}, procs = {a = {sh = "x", fds = {[3] = "p"}}}}`, `pipes.p: the name is also used by sockets.p`},
		{`{procs = {a = 1}}`, `procs.a: expected a table {argv = {...}, ...}, got number`},
		{`{procs = {a = {}}}`, `procs.a.argv: expected a non-empty list`},
		{`{procs = {a = {argv = {"x", {}}}}}`, `procs.a.argv[2]: expected a string, got table`},
		{`{procs = {a = {argv = {"x"}, sh = "y"}}}`, `procs.a: give argv= or sh=, not both`},
		{`{procs = {a = {sh = 1}}}`, `procs.a.sh: expected a shell command string`},
		{`{procs = {a = {sh = "x", argz = 1}}}`, `procs.a.argz: unknown field (did you mean "argv"?)`},
		{`{procs = {a = {sh = "x", env = 1}}}`, `procs.a.env: expected a table {KEY = "value"}`},
		{`{procs = {a = {sh = "x", env = {A = {}}}}}`, `procs.a.env.A: expected a string, got table`},
		{`{procs = {a = {sh = "x", cwd = 1}}}`, `procs.a.cwd: expected a directory path`},
		{`{procs = {a = {sh = "x", fds = 1}}}`, `procs.a.fds: expected a table {[n] = "name"}`},
		{`{procs = {a = {sh = "x", fds = {[-1] = "null"}}}}`, `procs.a.fds[-1]: descriptor numbers are integers >= 0`},
		{`{procs = {a = {sh = "x", fds = {[3] = 5}}}}`, `procs.a.fds[3]: expected a name such as`},
		{`{sockets = {api = {anon = true}}, procs = {a = {sh = "x", fds = {[3] = "ap"}}}}`, `procs.a.fds[3]: no socket named "ap" (did you mean "api"?)`},
		{`{sockets = {api = {path = "x"}}, procs = {a = {sh = "x", fds = {[3] = "api.addr"}}}}`, `procs.a.fds[3]: socket "api" is not anonymous`},
		{`{sockets = {l = {pair = true}}, procs = {a = {sh = "x", fds = {[3] = "l"}}}}`, `procs.a.fds[3]: socket "l" is a pair: name an end, "l.a" or "l.b"`},
		{`{pipes = {p = {}}, procs = {a = {sh = "x", fds = {[3] = "p"}}}}`, `procs.a.fds[3]: "p" is a pipe: name an end, "p.r" or "p.w"`},
		{`{pipes = {p = {}}, procs = {a = {sh = "x", fds = {[3] = "q.w"}}}}`, `procs.a.fds[3]: no pipe named "q"`},
		{`{pipes = {p = {}}, procs = {a = {sh = "x", fds = {[3] = "p.x"}}}}`, `procs.a.fds[3]: unknown end ".x"`},
		{`{sockets = {api = {anon = true}}, procs = {a = {sh = "x", fds = {[3] = "api.r"}}}}`, `"api" is a socket, not a pipe`},
		{`{procs = {a = {sh = "x", fds = {[0] = "null"}, stdin = "null"}}}`, `procs.a.stdin: fds[0] is already mapped`},
		{`{sockets = {api = {anon = true}}, procs = {a = {sh = "x", listen = {"api"}, fds = {[3] = "null"}}}}`, `procs.a.listen[1]: activation puts it at fd 3, which fds[3] already maps`},
		{`{sockets = {l = {pair = true}}, procs = {a = {sh = "x", listen = {"l.a"}}}}`, `procs.a.listen[1]: activation passes listening sockets`},
		{`{procs = {a = {sh = "x", ready = 5}}}`, `procs.a.ready: expected a table such as {notify = true}`},
		{`{procs = {a = {sh = "x", ready = {}}}}`, `procs.a.ready: give exactly one of notify=true, notify_fd=N, connect="socket" or output=`},
		{`{procs = {a = {sh = "x", ready = {notify_fd = 1}}}}`, `procs.a.ready.notify_fd: expected a descriptor number >= 3, got 1`},
		{`{procs = {a = {sh = "x", ready = {connect = "nope"}}}}`, `procs.a.ready.connect: no socket named "nope"`},
		{`{sockets = {api = {anon = true}}, procs = {a = {sh = "x", fds = {[3] = "api"}, ready = {connect = "api"}}}}`, `procs.a.ready.connect: socket "api" is made by fdwire and handed over as an fd`},
		{`{procs = {a = {sh = "x", ready = {output = "(("}}}}`, `procs.a.ready.output[1]: bad Lua pattern`},
		{`{procs = {a = {sh = "x", ready = {output = "x", timeout = 0}}}}`, `procs.a.ready.timeout: expected a number of seconds > 0, got 0`},
		{`{procs = {a = {sh = "x", depends_on = 5}}}`, `procs.a.depends_on: expected {"name", ...}`},
		{`{procs = {a = {sh = "x", depends_on = {"b"}}}}`, `procs.a.depends_on.b: no process named "b"`},
		{`{procs = {a = {sh = "x", depends_on = {b = "up"}}, b = {sh = "x"}}}`, `procs.a.depends_on.b: condition must be "started", "ready" or "exited", got "up"`},
		{`{procs = {a = {sh = "x", depends_on = {b = "ready"}}, b = {sh = "x"}}}`, `procs.a.depends_on.b: "b" has no ready= check`},
		{`{procs = {a = {sh = "x", depends_on = {"a"}}}}`, `procs.a.depends_on.a: a process cannot depend on itself`},
		{`{procs = {a = {sh = "x", depends_on = {"b"}}, b = {sh = "x", depends_on = {"c"}}, c = {sh = "x", depends_on = {"a"}}}}`, `procs.a.depends_on: dependency cycle a -> b -> c -> a`},
		{`{procs = {a = {sh = "x", expect = 0}}}`, `procs.a.expect: expected a table {exit = 0}`},
		{`{procs = {a = {sh = "x", expect = {exit = 300}}}}`, `procs.a.expect.exit: expected an exit code 0-255, got 300`},
		{`{procs = {a = {sh = "x", expect = {signal = "NOPE"}}}}`, `procs.a.expect.signal: unknown signal "NOPE"`},
		{`{procs = {a = {sh = "x", expect = {exit = 0, signal = "TERM"}}}}`, `procs.a.expect: give exit= or signal=, not both`},
		{`{procs = {a = {sh = "x", expect = {stdout = 5}}}}`, `procs.a.expect.stdout: expected a Lua pattern or a list of them`},
		{`{procs = {a = {sh = "x", expect = {stderr = {"(("}}}}}`, `procs.a.expect.stderr[1]: bad Lua pattern`},
		{`{procs = {a = {sh = "x", expect = {code = 0}}}}`, `procs.a.expect.code: unknown field`},
		{`{procs = {a = {sh = "x", timeout = "1"}}}`, `procs.a.timeout: expected a number of seconds > 0`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			msg := mustFail(t, `topo.define(`+c.spec+`)`, c.want)
			if !strings.Contains(msg, "topo.define") {
				t.Errorf("%s: error does not name topo.define: %s", c.spec, msg)
			}
		})
	}
	// topo.up refuses the same specs before it makes anything.
	mustFail(t, `topo.up({procs = {a = {sh = "x", fds = {[3] = "ap"}}}})`, `procs.a.fds[3]: no socket named "ap"`)
}

// TestTopoDependencyOrderAndReadiness: each process starts only once its
// dependencies' conditions hold, for every kind of readiness.
func TestTopoDependencyOrderAndReadiness(t *testing.T) {
	mustRun(t, `
		local top = topo.up({
			timeout = 20,
			procs = {
				-- ready by output, after a delay; writes a marker first
				slow = { sh = "sleep 0.2; touch slow.ready; echo up; exec sleep 30", ready = { stdout = "^up" } },
				-- ready by a newline on fd 5, after a delay
				nfd = { sh = "sleep 0.1; touch nfd.ready; echo >&5; exec sleep 30", ready = { notify_fd = 5 } },
				-- may only start once both are ready
				user = { sh = "test -f slow.ready && test -f nfd.ready && echo saw-both", depends_on = { "slow", "nfd" },
				         expect = { exit = 0, stdout = "saw%-both" } },
				-- starts after user has exited successfully
				after = { sh = "echo after", depends_on = { user = "exited" }, expect = { exit = 0 } },
				-- started only: no readiness needed
				early = { sh = "echo early", depends_on = { slow = "started" }, expect = { exit = 0 } },
			},
		})
		-- up returns once the ready-checked processes are ready
		assert(top:status("slow").ready and top:status("nfd").ready, "up returned before readiness")
		local ok, r = top:wait()
		assert(ok, tostring(r))
		assert(r.procs.slow.state == "stopped" and r.procs.nfd.state == "stopped")
		assert(r.procs.slow.ready_after >= 0.2, "slow ready too soon: " .. r.procs.slow.ready_after)
		assert(r.procs.after.stdout == "after\n")
		assert(r.code == 0 and r.reason == "completed")
	`)
}

// TestTopoTimesCountFromFork: a process's duration and ready_after start
// before its fork, so a slow return from spawn cannot make them shorter than
// the child's own life (CI saw ready_after 0.196 for a child that slept 0.2
// first). The slow return is made here by delaying proc.spawn's result.
func TestTopoTimesCountFromFork(t *testing.T) {
	mustRun(t, `
		local real = proc.spawn
		proc.spawn = function(a) local p = real(a); task.sleep(0.3); return p end
		local ok, top = pcall(topo.up, {
			timeout = 20,
			procs = { svc = { sh = "echo up; exec sleep 30", ready = { stdout = "^up" } } },
		})
		proc.spawn = real
		assert(ok, tostring(top))
		local ok, r = top:down()
		assert(r.procs.svc.ready_after >= 0.3, "ready_after shorter than the child lived: " .. r.procs.svc.ready_after)
		assert(r.procs.svc.duration >= 0.3, "duration shorter than the child lived: " .. r.procs.svc.duration)
	`)
}

func TestTopoConnectAndNotifyReadiness(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed (apt-get install python3-minimal)")
	}
	mustRun(t, `
		local server = [[
import os, socket, time
time.sleep(0.1)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("own.sock"); s.listen()
open("listening", "w").close()
while True:
    c, _ = s.accept()
    try: c.sendall(b"hi\n")
    except OSError: pass  # the readiness probe hangs up at once
    c.close()
]]
		local notifier = [[
import os, socket, time
time.sleep(0.1)
open("notified", "w").close()
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
time.sleep(30)
]]
		local top = topo.up({
			timeout = 20,
			sockets = { own = { path = "own.sock" } },
			procs = {
				server = { argv = { "python3", "-c", server }, ready = { connect = "own" } },
				notifier = { argv = { "python3", "-c", notifier }, ready = { notify = true } },
				client = { sh = "test -f listening && test -f notified && echo ok", depends_on = { "server", "notifier" },
				           expect = { exit = 0, stdout = "^ok\n$" } },
			},
		})
		local ok, r = top:wait()
		assert(ok, tostring(r))
	`)
}

// TestTopoExpectationFailures: each kind of expectation failing gives a
// clear line in the report and a nonzero code.
func TestTopoExpectationFailures(t *testing.T) {
	cases := []struct{ procs, want string }{
		{`a = { sh = "exit 3", expect = { exit = 0 } }`, `a: expected exit 0, got exit 3`},
		{`a = { sh = "kill -KILL $$", expect = { exit = 0 } }`, `a: expected exit 0, got signal SIGKILL`},
		{`a = { sh = "exit 0", expect = { signal = "TERM" } }`, `a: expected signal SIGTERM, got exit 0`},
		{`a = { sh = "echo helo", expect = { exit = 0, stdout = "hello" } }`, `a: stdout does not match "hello"; it was "helo\n"`},
		{`a = { sh = "echo oops >&2", expect = { exit = 0, stderr = "^fine" } }`, `a: stderr does not match "^fine"; it was "oops\n"`},
		{`svc = { sh = "exit 4" }, a = { sh = "sleep 5", expect = { exit = 0 } }`, `svc: exited unexpectedly (exit 4)`},
		{`svc = { sh = "exec sleep 5", ready = { output = "never", timeout = 0.2 } }`, `svc: not ready within 0.2s (ready: output matches "never")`},
		{`svc = { sh = "exit 0", ready = { output = "never" } }`, `svc: exit 0 before it was ready (ready: output matches "never")`},
		{`svc = { sh = "exec 5>&-; sleep 5", ready = { notify_fd = 5 } }`, `svc: closed its notify fd 5 without writing a newline`},
		{`a = { argv = { "/nonexistent/prog" }, expect = { exit = 0 } }`, `a: could not start: spawn /nonexistent/prog`},
	}
	for _, c := range cases {
		out := mustRun(t, `
			local top = topo.up({ timeout = 10, grace = 0.5, procs = { `+c.procs+` } })
			local ok, r = top:wait()
			assert(not ok and r.code ~= 0, "expected a failure")
			print(r.code)
			print(table.concat(r.failures, "\n"))
		`)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: report lacks %q:\n%s", c.procs, c.want, out)
		}
		if strings.Contains(c.procs, "nonexistent") && !strings.HasPrefix(out, "3\n") {
			t.Errorf("a setup failure must give code 3: %s", out)
		}
	}
}

// TestTopoTimeoutTeardown: the timeout ends the run; the teardown stops a
// cooperative process with SIGTERM, kills one that ignores it after the
// grace period and names it, and leaves nothing behind.
func TestTopoTimeoutTeardown(t *testing.T) {
	out := mustRun(t, `
		local top = topo.up({
			timeout = 0.3, grace = 0.3,
			procs = {
				sleeper = { argv = { "sleep", "30" }, expect = { exit = 0 } },
				stubborn = { sh = "trap '' TERM; echo trapped; while :; do sleep 0.05; done", ready = { stdout = "trapped" } },
			},
		})
		local dir = top:dir()
		local ok, r = top:wait()
		assert(not ok and r.reason == "timeout" and r.code == 1, tostring(r))
		assert(r.procs.sleeper.state == "stopped", r.procs.sleeper.state)
		assert(r.procs.stubborn.state == "killed", r.procs.stubborn.state)
		assert(io.open(dir) == nil, "run directory left behind")
		print(tostring(r))
	`)
	for _, want := range []string{
		"timed out after 0.3s; still waiting for: sleeper",
		"sleeper: expected exit 0, but it was still running at teardown",
		"stubborn (pid ", "did not exit within 0.3s of SIGTERM; sent SIGKILL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// The stubborn shell's sleep children are gone with it (leakcheck
	// in runLua fails on any child left).
}

// TestTopoVerify: the live fds match the spec; a process that closed a
// mapped fd, or holds one it was not given, is reported.
func TestTopoVerify(t *testing.T) {
	mustRun(t, `
		local top = topo.up({
			sockets = { api = { anon = true }, link = { pair = true } },
			pipes = { p = {} },
			procs = {
				srv = { sh = "echo go; exec sleep 30", fds = { [3] = "api", [4] = "link.a", [5] = "p.w" }, ready = { stdout = "go" } },
				cli = { sh = "echo go; exec sleep 30", fds = { [4] = "api.addr", [5] = "link.b", [0] = "p.r" }, ready = { stdout = "go" } },
				bad = { sh = "exec 3<&- 7</dev/null; echo go; exec sleep 30", fds = { [3] = "null" }, ready = { stdout = "go" } },
			},
		})
		-- bad's exec of sleep briefly holds the loader's libraries at free
		-- numbers (3 among them): ask until the processes have settled.
		local ok, problems, text
		for _ = 1, 100 do
			ok, _, problems = top:verify()
			text = table.concat(problems, "\n")
			if #problems == 1 and text:find('procs.bad.fds%[3%] %(null%): not open in pid') then break end
			task.sleep(0.01)
		end
		assert(not ok)
		assert(#problems == 1 and text:find('procs.bad.fds%[3%] %(null%): not open in pid'), text)
		-- strict also flags the file bad opened itself
		local ok2, _, p2 = top:verify({ strict = true })
		assert(table.concat(p2, "\n"):find("procs.bad holds fd 7 %(/dev/null%) that the spec did not give it"), table.concat(p2, "\n"))
		assert(top:down())
	`)
	// A good topology verifies cleanly, also in strict mode.
	mustRun(t, `
		local top = topo.up({
			sockets = { link = { pair = true }, api = { anon = true } },
			procs = {
				a = { sh = "echo go; exec sleep 30", fds = { [3] = "link.a", [4] = "api" }, ready = { stdout = "go" } },
				b = { sh = "echo go; exec sleep 30", fds = { [3] = "link.b", [4] = "api.addr" }, ready = { stdout = "go" } },
			},
		})
		-- Strict mode sees every fd, including the libraries the dynamic
		-- loader holds open for a moment while exec'd programs start: ask
		-- until the processes have settled.
		local ok, problems, checked
		for _ = 1, 100 do
			ok, _, problems, checked = top:verify({ strict = true })
			if ok then break end
			task.sleep(0.01)
		end
		assert(ok and checked == 2, table.concat(problems, "\n"))
		assert(top:down())
	`)
}

func TestTopoGraph(t *testing.T) {
	out := mustRun(t, `
		print(topo.graph({
			name = "g",
			sockets = { api = { anon = true }, own = { path = "own.sock" } },
			pipes = { logs = {} },
			procs = {
				srv = { argv = { "server" }, fds = { [3] = "api", [1] = "logs.w" } },
				cli = { argv = { "client" }, fds = { [4] = "api.addr" }, depends_on = { "srv" } },
				log = { argv = { "cat" }, fds = { [0] = "logs.r" } },
			},
		}))
	`)
	for _, want := range []string{
		`digraph "g" {`,
		`"cli" -> "srv" [label="api (anon)", taillabel="4", headlabel="3"`,
		`"srv" -> "log" [label="logs (pipe)", taillabel="1", headlabel="0"`,
		`"sock:own" [label="own (path)\nown.sock"`,
		`"cli" -> "srv" [style=dashed`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("DOT lacks %q:\n%s", want, out)
		}
	}
}

// TestTopoDownAndParallel: several topologies in one runtime at once do
// not disturb each other, and down() stops services without failing.
func TestTopoDownAndParallel(t *testing.T) {
	mustRun(t, `
		local tasks = {}
		for i = 1, 8 do
			tasks[i] = task.spawn(function()
				local top = topo.up({
					pipes = { p = {} },
					procs = {
						src = { sh = "echo token-" .. i, fds = { [1] = "p.w" }, expect = { exit = 0 } },
						dst = { argv = { "cat" }, fds = { [0] = "p.r" }, expect = { exit = 0, stdout = "^token%-" .. i .. "\n$" } },
						svc = { argv = { "sleep", "30" } },
					},
				})
				local ok, r = top:wait()
				assert(ok, tostring(r))
				assert(r.procs.svc.state == "stopped")
				return i
			end)
		end
		task.wait(unpack(tasks))
		local top = topo.up({ procs = { svc = { argv = { "sleep", "30" } } } })
		local ok, r = top:down()
		assert(ok and r.reason == "down", tostring(r))
	`)
}

// The engine's natives for its per-process state: sized tables and the
// dev/ino of a capture pipe (one fstat), with their argument checks.
func TestTopoNativeTableAndDevIno(t *testing.T) {
	out := mustRun(t, `
		local native = require("fdwire.topo.native")
		local t = native.table(2, 3)
		t[1], t[2], t.a = "x", "y", "z"
		assert(#t == 2 and t.a == "z" and next(native.table(0, 0)) == nil)
		local r, w = fd.pipe()
		local dev, ino = native.dev_ino(r)
		local i = r:info()
		assert(dev == i.dev and ino == i.ino, "dev_ino differs from fd.info")
		local bad = {}
		for _, args in ipairs({ { -1, 0 }, { 0, 2 ^ 40 }, { "x", 0 }, { 1.5, 0 } }) do
			local ok, e = pcall(native.table, args[1], args[2])
			bad[#bad + 1] = tostring(ok) .. " " .. tostring(e.name)
		end
		r:close()
		local ok, e = pcall(native.dev_ino, r)
		bad[#bad + 1] = tostring(ok) .. " " .. tostring(e.name)
		ok, e = pcall(native.dev_ino, 3)
		bad[#bad + 1] = tostring(ok) .. " " .. tostring(e.name)
		w:close()
		print(table.concat(bad, ","))
	`)
	if out != "false EINVAL,false EINVAL,false EINVAL,false EINVAL,false EBADF,false EINVAL\n" {
		t.Errorf("got %q", out)
	}
}

// TestTopoEnvironment: what each process's environment holds: its own
// env=, FDWIRE_TOPO_DIR, FDWIRE_TOPO_NAME, FDWIRE_PROC_NAME, each path or
// abstract socket's FDWIRE_SOCK_<NAME>, then fdwire's environment without
// LISTEN_* and NOTIFY_SOCKET; each variable once, the first of that list
// winning (a nested topology's FDWIRE_* are the inner run's). The engine
// builds the shared part once per topology; this pins what each process
// gets. (proc.spawn hands the child its environment sorted.)
func TestTopoEnvironment(t *testing.T) {
	t.Setenv("LISTEN_FDS", "7")
	t.Setenv("NOTIFY_SOCKET", "/outer/notify")
	t.Setenv("FDWIRE_PROC_NAME", "outer-proc")
	t.Setenv("FDWIRE_SOCK_API", "outer-api")
	t.Setenv("FDWIRE_TEST_KEEP", "kept")
	t.Setenv("HOME", "/outer/home")
	out := mustRun(t, `
		local top = topo.up({
			name = "envtop",
			sockets = { api = { path = "api.sock" }, ["ab-c"] = { abstract = "envtop-abc" } },
			procs = {
				a = { argv = { "env" }, env = { ZED = "1", HOME = "/h", FDWIRE_TOPO_NAME = "mine" }, expect = { exit = 0 } },
				b = { argv = { "env" }, expect = { exit = 0 } },
			},
		})
		local ok, r = top:wait()
		assert(ok, tostring(r))
		print(r.dir .. "\n--a--\n" .. r.procs.a.stdout .. "--b--\n" .. r.procs.b.stdout)
	`)
	dir, rest, _ := strings.Cut(out, "\n--a--\n")
	a, b, _ := strings.Cut(rest, "--b--\n")
	b = strings.TrimSuffix(b, "\n") // print's
	inherited := func(skip ...string) []string {
		var l []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(kv, "LISTEN_") || k == "NOTIFY_SOCKET" || slices.Contains(skip, k) {
				continue
			}
			l = append(l, kv)
		}
		return l
	}
	run := []string{"FDWIRE_TOPO_DIR", "FDWIRE_TOPO_NAME", "FDWIRE_PROC_NAME", "FDWIRE_SOCK_API", "FDWIRE_SOCK_AB_C"}
	wantA := append([]string{"FDWIRE_TOPO_NAME=mine", "HOME=/h", "ZED=1",
		"FDWIRE_TOPO_DIR=" + dir, "FDWIRE_PROC_NAME=a",
		"FDWIRE_SOCK_API=" + dir + "/api.sock", "FDWIRE_SOCK_AB_C=@envtop-abc"},
		inherited(append(run, "HOME", "ZED")...)...)
	wantB := append([]string{"FDWIRE_TOPO_DIR=" + dir, "FDWIRE_TOPO_NAME=envtop", "FDWIRE_PROC_NAME=b",
		"FDWIRE_SOCK_API=" + dir + "/api.sock", "FDWIRE_SOCK_AB_C=@envtop-abc"},
		inherited(run...)...)
	for _, c := range []struct {
		name, got string
		want      []string
	}{{"a", a, wantA}, {"b", b, wantB}} {
		got := strings.Split(strings.TrimSuffix(c.got, "\n"), "\n")
		slices.Sort(got)
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s's environment:\n got  %q\n want %q", c.name, got, c.want)
		}
	}
	if !strings.Contains(a, "FDWIRE_TEST_KEEP=kept\n") {
		t.Errorf("a lacks an inherited variable:\n%s", a)
	}
}

// TestTopoWatcherNatives: the engine follows its processes through one
// epoll instance (fdwire.topo.native.watcher): its two handles are owned
// like any other (in fd.list, closed by the caller), a pipe is reported
// under its key while readable and not once unwatched, a Proc once it has
// ended, and a Proc whose pidfd someone else closed by reaping it (here
// Proc:wait) through the bell; bad arguments are argument errors.
func TestTopoWatcherNatives(t *testing.T) {
	out := mustRun(t, `
		local native = require("fdwire.topo.native")
		local before = #fd.list()
		local w, bell = native.watcher()
		assert(#fd.list() == before + 2, "the watcher's handles are not listed")
		local r, wr = fd.pipe()
		native.watch(w, r, 5)
		local got = {}
		got[#got + 1] = #native.collect(w)
		wr:write("x")
		fd.ready(w, "r", { timeout = 5 })
		got[#got + 1] = table.concat(native.collect(w), ",")
		native.unwatch(w, r)
		got[#got + 1] = #native.collect(w)
		local p = proc.spawn({ "/bin/sh", "-c", "exit 3" })
		native.watch(w, p, 6)
		fd.ready(w, "r", { timeout = 5 })
		got[#got + 1] = table.concat(native.collect(w), ",")
		native.unwatch(w, p)
		assert(p:wait() == 3)
		native.unwatch(w, p) -- reaped: no error
		local q = proc.spawn({ "/bin/sh", "-c", "exit 4" })
		native.watch(w, q, 7)
		assert(q:wait() == 4) -- reaps and closes its pidfd: the bell rings
		fd.ready(w, "r", { timeout = 5 })
		local keys = native.collect(w)
		got[#got + 1] = keys[#keys]
		for _, c in ipairs({
			{ native.watch, w, r, 0 }, { native.watch, w, r, 1.5 }, { native.watch, r, r, 1 },
			{ native.collect, r }, { native.watch, w, "x", 1 }, { native.unwatch, 3 },
		}) do
			local ok, e = pcall(unpack(c))
			got[#got + 1] = tostring(ok) .. " " .. tostring(type(e) == "table" and e.name)
		end
		r:close()
		wr:close()
		w:close()
		bell:close()
		assert(#fd.list() == before, "handles left open")
		print(table.concat(got, " "))
	`)
	want := "0 5 0 6 7 false EINVAL false EINVAL false EINVAL false EINVAL false EINVAL false EINVAL\n"
	if out != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}
}

// TestTopoExitSeenWhoeverReaps: a script that waits for a topology's
// process itself (Topology:proc(name):wait()) reaps it; the topology
// still sees that exit, checks it against the expectation and completes.
func TestTopoExitSeenWhoeverReaps(t *testing.T) {
	// One process per run, so no failure can tear another down before
	// the script reaps it: the kept expectation, then the failed one.
	out := mustRun(t, `
		for _, c in ipairs({ { 7, 7 }, { 1, 0 } }) do
			local top = topo.up({ procs = {
				a = { sh = "sleep 0.2; exit " .. c[1], expect = { exit = c[2] } },
			} })
			local code = top:proc("a"):wait()
			local ok, r = top:wait({ timeout = 10 })
			print(code, ok, r.reason, r.procs.a.state, r.procs.a.status, r.failures[1])
		end
	`)
	want := "7\ttrue\tcompleted\texited\texit 7\tnil\n" +
		"1\tfalse\tfailed\texited\texit 1\ta: expected exit 0, got exit 1\n"
	if out != want {
		t.Errorf("got  %q\nwant %q", out, want)
	}
}

// TestTopoEchoErrorIsTheRunsFailure: an echo function that raises ends
// the capture of that stream and fails the run with the error (as any
// internal error of the engine does: the run is torn down), instead of
// stopping the capture of every process.
func TestTopoEchoErrorIsTheRunsFailure(t *testing.T) {
	out := mustRun(t, `
		local echo = function(line)
			if line:find("boom") then error("echo broke") end
		end
		local top = topo.up({ procs = {
			a = { sh = "echo boom; exit 0", expect = { exit = 0 } },
			b = { argv = { "sleep", "30" } },
		} }, { echo = echo })
		local ok, r = top:wait({ timeout = 10 })
		print(ok, r.reason, r.failures[1]:find("a: internal error: .*echo broke") ~= nil, r.procs.b.state)
	`)
	if out != "false\tfailed\ttrue\tstopped\n" {
		t.Errorf("got %q", out)
	}
}
