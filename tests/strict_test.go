package tests

import (
	"os"
	"os/exec"
	"path/filepath"
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

// TestSeenLookupUsesAccessNotModeBits: as uid 65534, a root-owned 0700
// "prog" earlier in PATH has x bits but may not be executed; mode bits
// said yes and the spawn failed with EACCES. access(X_OK) skips it and
// finds the next one, as execvp and os/exec do.
func TestSeenLookupUsesAccessNotModeBits(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is missing: cannot run as a second uid")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534")
	}
	root, err := os.MkdirTemp("", "fdwire-strict-path-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(a, "prog"), []byte("#!/bin/sh\necho A\n"), 0o700)
	os.WriteFile(filepath.Join(b, "prog"), []byte("#!/bin/sh\necho B\n"), 0o755)
	code := `local p = proc.spawn{"prog", env = {PATH = "` + a + `:` + b + `"}, stdout = "pipe"}
		io.write(p:stdout():read(10)) p:wait()`
	cmd := exec.Command("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", fdwireBin, "-e", code)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "B\n" {
		t.Fatalf("want the executable prog in %s, got %q (%v)", b, out, err)
	}
}
