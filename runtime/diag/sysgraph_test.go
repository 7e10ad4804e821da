package diag

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/fdwire/fdwire/internal/leakcheck"
)

// startHolding runs sleep with files at fds 3, 4, ...
func startHolding(t *testing.T, files ...*os.File) int {
	t.Helper()
	c := exec.Command("sleep", "60")
	c.ExtraFiles = files
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c.Process.Pid
}

func edge(g *Graph, kind, from, to string, fromFd int) bool {
	for _, e := range g.Edges {
		if e.Kind == kind && e.From == from && (to == "" || e.To == to) {
			for _, n := range e.FromFds {
				if n == fromFd {
					return true
				}
			}
		}
	}
	return false
}

// TestSystemGraphTCP: a loopback TCP connection between two processes is
// one edge; a client whose connection waits in the accept queue is a
// pending edge to the listener, which this test process holds.
func TestSystemGraphTCP(t *testing.T) {
	leakcheck.Check(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback TCP: %v", err)
	}
	defer l.Close()
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s1, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", l.Addr().String()) // stays in the queue
	if err != nil {
		t.Fatal(err)
	}
	files := func(cs ...net.Conn) []*os.File {
		var out []*os.File
		for _, c := range cs {
			f, err := c.(*net.TCPConn).File()
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			out = append(out, f)
		}
		return out
	}
	fa, fb, fc := files(c1), files(s1), files(c2)
	a := startHolding(t, fa...)
	b := startHolding(t, fb...)
	c := startHolding(t, fc...)
	for _, f := range append(append(fa, fb...), fc...) {
		f.Close()
	}
	g, err := SystemGraph([]int{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	pa, pb, pc := "pid:"+strconv.Itoa(a), "pid:"+strconv.Itoa(b), "pid:"+strconv.Itoa(c)
	if !edge(g, "tcp", pa, pb, 3) && !edge(g, "tcp", pb, pa, 3) {
		t.Errorf("no tcp edge between %d and %d: %+v", a, b, g.Edges)
	}
	if !edge(g, "pending", pc, "", 3) {
		t.Errorf("no pending edge from %d: %+v", c, g.Edges)
	}
	var me bool
	for _, p := range g.Procs {
		me = me || p.Pid == os.Getpid()
	}
	if me {
		t.Errorf("the listener's holder (this process, which drew the graph) is in the graph")
	}
}
