package tests

import (
	"strings"
	"testing"
)

// TestSeenRecvfdsUnderEMFILE: a 20-descriptor message received by a
// process whose descriptor table is full used to be reported as "the
// sender sent more than 253 descriptors". It is EMFILE now, says the
// kernel dropped the ones that did not fit, and keeps the data.
func TestSeenRecvfdsUnderEMFILE(t *testing.T) {
	child := `
		local a, b = sock.pair()
		local m = fd.memfd("x")
		local hold = {}
		while true do
			local ok, h = pcall(fd.dup, m)
			if not ok then assert(h.name == "EMFILE", tostring(h)) break end
			hold[#hold + 1] = h
		end
		for i = 1, 3 do table.remove(hold):close() end
		local list = {}
		for i = 1, 20 do list[i] = m end
		sock.sendfds(a, list, "payload")
		local ok, e = pcall(sock.recvfds, b)
		assert(not ok)
		print(e.name, e.arrived, e.data)
		print(e.msg)
	`
	r := fdwire(t, "", "-e", `
		local p = proc.spawn{arg[-1], "-e", `+"[==["+child+"]==]"+`, rlimits = {nofile = {64, 64}}, stdout = "pipe"}
		local out = {}
		while true do
			local s = p:stdout():read()
			if not s then break end
			out[#out + 1] = s
		end
		assert(p:wait() == 0, "child failed")
		io.write(table.concat(out))
	`)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	lines := strings.SplitN(r.Stdout, "\n", 2)
	if !strings.HasPrefix(lines[0], "EMFILE\t") || !strings.HasSuffix(lines[0], "\tpayload") {
		t.Fatalf("want EMFILE with the payload kept, got %q", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "descriptor table is full") || !strings.Contains(r.Stdout, "dropped") || strings.Contains(r.Stdout, "253") {
		t.Errorf("message does not explain the full table: %q", r.Stdout)
	}
}
