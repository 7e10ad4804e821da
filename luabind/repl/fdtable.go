package repl

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fdwire/fdwire/luabind"
	"github.com/fdwire/fdwire/runtime/diag"
	"github.com/fdwire/fdwire/runtime/fdio"
)

// FdRow is one line of :fds: what the kernel says about one descriptor
// the session owns, and who else holds the same file, pipe or socket.
type FdRow struct {
	Num    int
	Kind   string // pipe, file, unix/stream, inet/stream, ...
	End    string // "read end"/"write end" for a pipe, else r, w or rw
	Flags  string // the open flags beyond the access mode, and cloexec
	State  string // sockets: listening, connected, unconnected
	Local  string // a socket's own address ("unnamed"), or a file's path
	Peer   string // a socket's peer address ("unnamed"), "" if none
	Ino    uint64
	Others []string // "pid 412 cat fd 0 (write end)", "peer: pid 7 sshd fd 3"
}

// fdRows reads every descriptor the session owns. One scan of /proc
// answers "who else holds it" for all of them; sock_diag gives unix
// sockets' state and the inode of their peer.
func fdRows(rt *luabind.Runtime) []FdRow {
	me := os.Getpid()
	ix := diag.NewIndex(nil)
	unixSocks, _ := diag.UnixSockets()
	var rows []FdRow
	for _, f := range rt.Fds() {
		in, err := f.Info()
		if err != nil {
			rows = append(rows, FdRow{Num: f.Raw(), Kind: "? " + err.Error()})
			continue
		}
		rows = append(rows, fdRow(in, me, ix, unixSocks))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Num < rows[j].Num })
	return rows
}

func access(flags []string) string {
	for _, f := range flags {
		switch f {
		case "O_RDONLY":
			return "r"
		case "O_WRONLY":
			return "w"
		case "O_RDWR":
			return "rw"
		}
	}
	return ""
}

func endName(kind, acc string) string {
	if kind == "pipe" || kind == "fifo" {
		switch acc {
		case "r":
			return "read end"
		case "w":
			return "write end"
		}
	}
	return acc
}

func fdRow(in *fdio.Info, me int, ix *diag.Index, unixSocks map[uint64]diag.UnixSock) FdRow {
	r := FdRow{Num: in.Num, Kind: in.Kind, Ino: in.Ino}
	acc := access(in.Flags)
	r.End = endName(in.Kind, acc)
	var fl []string
	for _, f := range in.Flags {
		// O_LARGEFILE is on for every descriptor of a 64-bit process.
		if f != "O_RDONLY" && f != "O_WRONLY" && f != "O_RDWR" && f != "O_LARGEFILE" {
			fl = append(fl, f)
		}
	}
	if in.Cloexec {
		fl = append(fl, "cloexec")
	}
	fl = append(fl, in.Tags...)
	r.Flags = strings.Join(fl, ",")
	key := diag.Key{Dev: in.Dev, Ino: in.Ino}
	if s := in.Socket; s != nil {
		r.Kind = s.Domain + "/" + s.Type
		r.Local, r.Peer = s.Local, s.Peer
		if r.Local == "" {
			r.Local = "unnamed"
		}
		switch {
		case s.Listening:
			r.State = "listening"
		case s.Peer != "" || s.PeerUnnamed:
			r.State = "connected"
		default:
			r.State = "unconnected"
		}
		if s.PeerUnnamed {
			r.Peer = "unnamed"
		}
		if u, ok := unixSocks[in.Ino]; ok && s.Domain == "unix" {
			if u.State == "listen" {
				r.State = "listening"
			}
			if u.Peer != 0 {
				for _, h := range ix.ByKey[diag.Key{Dev: in.Dev, Ino: u.Peer}] {
					r.Others = append(r.Others, fmt.Sprintf("peer: %s", holderText(h, "")))
				}
				if len(r.Others) == 0 {
					r.Others = append(r.Others, fmt.Sprintf("peer: socket:[%d], held by no process this user can see", u.Peer))
				}
			}
		}
	} else if in.Kind != "pipe" {
		r.Local = in.Link
	}
	for _, h := range ix.Others(key, me, in.Num) {
		note := endName(in.Kind, h.Access)
		if in.Kind == "pipe" && h.Access != acc {
			note = "other end: " + note
		} else if same, ok := diag.SameDescription(me, in.Num, h.Pid, h.Fd); ok && same {
			note += ", same description"
		}
		r.Others = append(r.Others, holderText(h, note))
	}
	return r
}

func holderText(h diag.Holder, note string) string {
	who := "this fdwire"
	if h.Pid != os.Getpid() {
		who = fmt.Sprintf("pid %d %s", h.Pid, h.Comm)
	}
	s := fmt.Sprintf("%s fd %d", who, h.Fd)
	if note != "" {
		s += " (" + note + ")"
	}
	return s
}

// writeFdTable prints rows as an aligned table; holders beyond the first
// go on lines of their own.
func writeFdTable(w io.Writer, rows []FdRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FD\tKIND\tEND\tFLAGS\tSTATE\tADDRESS/PATH\tPEER\tINODE\tALSO HELD BY")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range rows {
		first := "-"
		if len(r.Others) > 0 {
			first = r.Others[0]
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Num, r.Kind, dash(r.End), dash(r.Flags),
			dash(r.State), dash(r.Local), dash(r.Peer), r.Ino, first)
		for _, o := range r.Others[min(1, len(r.Others)):] {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t%s\n", o)
		}
	}
	tw.Flush()
}
