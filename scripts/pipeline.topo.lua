-- A three-stage pipeline, as a shell would wire `gen | sort | upper`, but
-- declared: two pipes, each stage's stdin and stdout mapped to pipe ends.
-- The last stage's stdout is captured and checked.
return topo.run_main({
	name = "pipeline",
	timeout = 20,
	pipes = { raw = {}, sorted = {} },
	procs = {
		gen = {
			sh = "printf 'pear\\napple\\nfig\\n'",
			fds = { [1] = "raw.w" },
			expect = { exit = 0 },
		},
		sort = {
			argv = { "sort" },
			fds = { [0] = "raw.r", [1] = "sorted.w" },
			expect = { exit = 0 },
		},
		upper = {
			argv = { topo.exe, "-e", [[
				local stdin = fd.stdin
				while true do
					local s = stdin:read()
					if not s then break end
					io.write(s:upper())
				end
			]] },
			fds = { [0] = "sorted.r" },
			expect = { exit = 0, stdout = "^APPLE\nFIG\nPEAR\n$" },
		},
	},
})
