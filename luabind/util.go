package luabind

import (
	"bytes"
	"io"
	"strings"
)

func bytesReader(b []byte) io.Reader {
	// A leading #! line is a comment for scripts run as executables.
	if bytes.HasPrefix(b, []byte("#!")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = append([]byte("--"), b[2:]...)
		}
	}
	return bytes.NewReader(b)
}

// trimTraceback drops the runtime's own frames from a traceback.
func trimTraceback(tb string) string {
	lines := strings.Split(strings.TrimSpace(tb), "\n")
	out := lines[:0]
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t == "(tailcall): ?" || t == "[G]: ?" || t == "stack traceback:" && len(out) > 0 {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
