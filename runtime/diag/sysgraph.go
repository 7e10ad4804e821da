package diag

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fdwire/fdwire/runtime/sys"
)

// A Graph is who is connected to whom among running processes, as the
// kernel says: /proc/PID/fd and fdinfo for pipes and terminals, sock_diag
// for unix sockets (UNIX_DIAG_PEER, UNIX_DIAG_ICONS) and TCP (inet_diag).
type Graph struct {
	Procs   []GProc   `json:"procs"`
	Objects []GObject `json:"objects"`
	Edges   []GEdge   `json:"edges"`
}

// GProc is a process node. Outside is set for a process that was not
// asked for but holds the other end of something one that was holds.
type GProc struct {
	Pid     int      `json:"pid"`
	PPid    int      `json:"ppid"`
	Comm    string   `json:"comm"`
	Argv    []string `json:"argv"`
	Outside bool     `json:"outside,omitempty"`
}

// GObject is a node that is not a process: a listening socket, a
// terminal, an end nobody holds.
type GObject struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"` // listener, tty, socket, pipe, remote
	Label string `json:"label"`
}

// GEdge joins two nodes: From and To are "pid:N" or an object's ID.
// FromFds and ToFds are the descriptor numbers at each end.
type GEdge struct {
	Kind    string `json:"kind"` // pipe, unix, tcp, pending, listen, tty
	From    string `json:"from"`
	To      string `json:"to"`
	FromFds []int  `json:"from_fds,omitempty"`
	ToFds   []int  `json:"to_fds,omitempty"`
	Label   string `json:"label"`
}

func pidNode(pid int) string { return "pid:" + strconv.Itoa(pid) }

// ProcStat is a process's parent and command line.
func procInfo(pid int) (GProc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return GProc{}, false
	}
	p := GProc{Pid: pid}
	s := string(b)
	if i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')'); i >= 0 && j > i {
		p.Comm = s[i+1 : j]
		if f := strings.Fields(s[j+1:]); len(f) > 1 {
			p.PPid, _ = strconv.Atoi(f[1])
		}
	}
	if a, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		for _, x := range strings.Split(strings.TrimRight(string(a), "\x00"), "\x00") {
			if x != "" {
				p.Argv = append(p.Argv, x)
			}
		}
	}
	return p, true
}

// WithDescendants returns pids and every descendant of them, except skip
// (the caller itself, which is often a child of the shell it draws).
func WithDescendants(pids []int, skip int) []int {
	all, _ := Pids()
	children := map[int][]int{}
	for _, p := range all {
		if gp, ok := procInfo(p); ok {
			children[gp.PPid] = append(children[gp.PPid], p)
		}
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(p int) {
		if seen[p] || p == skip {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, p := range pids {
		walk(p)
	}
	sort.Ints(out)
	return out
}

// CgroupPids lists the processes of a cgroup v2 group and its sub-groups;
// a relative path is under /sys/fs/cgroup.
func CgroupPids(path string) ([]int, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join("/sys/fs/cgroup", path)
	}
	var out []int
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			f, err := os.Open(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return err
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
					out = append(out, n)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, sys.Wrap("cgroup", path, unwrapErrno(err))
	}
	sort.Ints(out)
	return out, nil
}

type holdersBy struct {
	order []int
	fds   map[int][]int
}

func groupByPid(hs []Holder) holdersBy {
	g := holdersBy{fds: map[int][]int{}}
	for _, h := range hs {
		if _, ok := g.fds[h.Pid]; !ok {
			g.order = append(g.order, h.Pid)
		}
		g.fds[h.Pid] = append(g.fds[h.Pid], h.Fd)
	}
	sort.Ints(g.order)
	return g
}

// SystemGraph draws the processes pids (the nodes asked for) and what
// their pipes, unix sockets, TCP sockets and terminals connect them to.
func SystemGraph(pids []int) (*Graph, error) {
	g := &Graph{}
	ix := NewIndex(nil)
	// The process drawing the picture is not in it (it is often a child
	// of the shell it draws, holding that shell's descriptors).
	ix.drop(os.Getpid())
	unixSocks, err := UnixSockets()
	if err != nil {
		return nil, err
	}
	tcp, _ := TCPSockets() // no inet_diag: TCP edges are left out
	tcpByIno := map[uint64]InetSock{}
	for _, s := range tcp {
		if s.Ino != 0 {
			tcpByIno[s.Ino] = s
		}
	}
	// Which listener each queued unix connection waits in, by the
	// client's socket.
	pendingIn := map[uint64]uint64{}
	for ino, u := range unixSocks {
		for _, p := range u.Pending {
			pendingIn[p] = ino
		}
	}
	selected := map[int]bool{}
	for _, p := range pids {
		selected[p] = true
	}
	nodes := map[int]bool{}
	addProc := func(pid int) {
		if nodes[pid] {
			return
		}
		nodes[pid] = true
		p, ok := procInfo(pid)
		if !ok {
			p = GProc{Pid: pid, Comm: ix.Comm[pid]}
		}
		p.Outside = !selected[pid]
		g.Procs = append(g.Procs, p)
	}
	objs := map[string]bool{}
	addObj := func(id, kind, label string) {
		if !objs[id] {
			objs[id] = true
			g.Objects = append(g.Objects, GObject{ID: id, Kind: kind, Label: label})
		}
	}
	done := map[string]bool{} // edges already drawn, by object
	for _, pid := range pids {
		fds, err := ProcFds(pid)
		if err != nil {
			continue // gone, or not ours to read
		}
		addProc(pid)
		for _, f := range fds {
			key := Key{f.Dev, f.Ino}
			switch {
			case f.Kind == "pipe":
				id := fmt.Sprintf("pipe:%d", f.Ino)
				if done[id] {
					continue
				}
				done[id] = true
				var w, r []Holder
				for _, h := range ix.ByKey[key] {
					if h.Access == "r" {
						r = append(r, h)
					} else {
						w = append(w, h)
					}
				}
				ws, rs := groupByPid(w), groupByPid(r)
				label := fmt.Sprintf("pipe [%d]", f.Ino)
				if len(w) == 0 || len(r) == 0 {
					addObj(id, "pipe", label+" (no "+map[bool]string{true: "writer", false: "reader"}[len(w) == 0]+")")
				}
				for _, a := range ws.order {
					addProc(a)
					if len(r) == 0 {
						g.Edges = append(g.Edges, GEdge{Kind: "pipe", From: pidNode(a), To: id, FromFds: ws.fds[a], Label: label})
					}
					for _, b := range rs.order {
						addProc(b)
						g.Edges = append(g.Edges, GEdge{Kind: "pipe", From: pidNode(a), To: pidNode(b), FromFds: ws.fds[a], ToFds: rs.fds[b], Label: label})
					}
				}
				if len(w) == 0 {
					for _, b := range rs.order {
						addProc(b)
						g.Edges = append(g.Edges, GEdge{Kind: "pipe", From: id, To: pidNode(b), ToFds: rs.fds[b], Label: label})
					}
				}
			case f.Kind == "socket":
				if u, ok := unixSocks[f.Ino]; ok {
					g.unixEdges(ix, f, u, unixSocks, pendingIn, addProc, addObj, done)
				} else if s, ok := tcpByIno[f.Ino]; ok {
					g.tcpEdges(ix, f, s, tcp, addProc, addObj, done)
				}
			case strings.HasPrefix(f.Link, "/dev/pts/") || strings.HasPrefix(f.Link, "/dev/tty") || f.Link == "/dev/console":
				id := "tty:" + f.Link
				addObj(id, "tty", f.Link)
				g.addFd(GEdge{Kind: "tty", From: pidNode(pid), To: id, Label: "tty"}, f.Num)
			}
		}
	}
	sort.Slice(g.Procs, func(i, j int) bool { return g.Procs[i].Pid < g.Procs[j].Pid })
	return g, nil
}

// addFd adds fd to the edge like e (same ends, kind, label), or adds e.
func (g *Graph) addFd(e GEdge, fd int) {
	for i := range g.Edges {
		x := &g.Edges[i]
		if x.Kind == e.Kind && x.From == e.From && x.To == e.To && x.Label == e.Label {
			x.FromFds = append(x.FromFds, fd)
			return
		}
	}
	e.FromFds = []int{fd}
	g.Edges = append(g.Edges, e)
}

func unixName(u UnixSock) string {
	if u.Path == "" {
		return "unnamed"
	}
	return u.Path
}

func (g *Graph) unixEdges(ix *Index, f Fd, u UnixSock, socks map[uint64]UnixSock, pendingIn map[uint64]uint64,
	addProc func(int), addObj func(id, kind, label string), done map[string]bool) {
	key := Key{f.Dev, f.Ino}
	me := groupByPid(ix.ByKey[key])
	if l, ok := pendingIn[f.Ino]; ok { // connected, not yet accepted
		id := fmt.Sprintf("unix:%d", l)
		addObj(id, "listener", fmt.Sprintf("unix %s listening\n%d pending", unixName(socks[l]), len(socks[l].Pending)))
		for _, p := range me.order {
			addProc(p)
			g.Edges = append(g.Edges, GEdge{Kind: "pending", From: pidNode(p), To: id, FromFds: me.fds[p], Label: "pending"})
		}
		return
	}
	switch {
	case u.State == "listen":
		id := fmt.Sprintf("unix:%d", f.Ino)
		if done[id] {
			return
		}
		done[id] = true
		addObj(id, "listener", fmt.Sprintf("unix %s listening\n%d pending", unixName(u), len(u.Pending)))
		for _, p := range me.order {
			addProc(p)
			g.Edges = append(g.Edges, GEdge{Kind: "listen", From: pidNode(p), To: id, FromFds: me.fds[p], Label: "listens"})
		}
	case u.Peer != 0:
		pair := fmt.Sprintf("unix:%d-%d", min(f.Ino, u.Peer), max(f.Ino, u.Peer))
		if done[pair] {
			return
		}
		done[pair] = true
		peer := groupByPid(ix.ByKey[Key{f.Dev, u.Peer}])
		label := "unix " + u.Type
		if len(peer.order) == 0 {
			id := fmt.Sprintf("unix:%d", u.Peer)
			addObj(id, "socket", fmt.Sprintf("socket [%d]\nheld by no process seen", u.Peer))
			for _, p := range me.order {
				addProc(p)
				g.Edges = append(g.Edges, GEdge{Kind: "unix", From: pidNode(p), To: id, FromFds: me.fds[p], Label: label})
			}
			return
		}
		for _, a := range me.order {
			addProc(a)
			for _, b := range peer.order {
				addProc(b)
				g.Edges = append(g.Edges, GEdge{Kind: "unix", From: pidNode(a), To: pidNode(b), FromFds: me.fds[a], ToFds: peer.fds[b], Label: label})
			}
		}
	}
}

func (g *Graph) tcpEdges(ix *Index, f Fd, s InetSock, all []InetSock,
	addProc func(int), addObj func(id, kind, label string), done map[string]bool) {
	me := groupByPid(ix.ByKey[Key{f.Dev, f.Ino}])
	if s.State == "listen" {
		id := fmt.Sprintf("tcp:%d", f.Ino)
		if done[id] {
			return
		}
		done[id] = true
		n := 0
		for _, o := range all {
			if o.Ino == 0 && o.Local.Port() == s.Local.Port() && o.State != "listen" && o.State != "time-wait" {
				n++
			}
		}
		addObj(id, "listener", fmt.Sprintf("tcp %s listening\n%d pending", s.Local, n))
		for _, p := range me.order {
			addProc(p)
			g.Edges = append(g.Edges, GEdge{Kind: "listen", From: pidNode(p), To: id, FromFds: me.fds[p], Label: "listens"})
		}
		return
	}
	var other *InetSock
	for i := range all {
		o := &all[i]
		if o.Local == s.Remote && o.Remote == s.Local {
			other = o
			break
		}
	}
	label := fmt.Sprintf("tcp %s", s.State)
	switch {
	case other == nil:
		id := "remote:" + s.Remote.String()
		addObj(id, "remote", "tcp "+s.Remote.String())
		for _, p := range me.order {
			addProc(p)
			g.Edges = append(g.Edges, GEdge{Kind: "tcp", From: pidNode(p), To: id, FromFds: me.fds[p], Label: label})
		}
	case other.Ino == 0: // in a listener's accept queue
		for _, l := range all {
			if l.State == "listen" && l.Local.Port() == other.Local.Port() && l.Ino != 0 {
				id := fmt.Sprintf("tcp:%d", l.Ino)
				addObj(id, "listener", fmt.Sprintf("tcp %s listening", l.Local))
				for _, p := range me.order {
					addProc(p)
					g.Edges = append(g.Edges, GEdge{Kind: "pending", From: pidNode(p), To: id, FromFds: me.fds[p], Label: "pending"})
				}
				return
			}
		}
	default:
		pair := fmt.Sprintf("tcp:%d-%d", min(f.Ino, other.Ino), max(f.Ino, other.Ino))
		if done[pair] {
			return
		}
		done[pair] = true
		peer := groupByPid(ix.ByKey[Key{f.Dev, other.Ino}])
		for _, a := range me.order {
			addProc(a)
			for _, b := range peer.order {
				addProc(b)
				g.Edges = append(g.Edges, GEdge{Kind: "tcp", From: pidNode(a), To: pidNode(b), FromFds: me.fds[a], ToFds: peer.fds[b],
					Label: fmt.Sprintf("tcp %s - %s", s.Local, s.Remote)})
			}
		}
	}
}
