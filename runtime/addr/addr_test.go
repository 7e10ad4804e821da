package addr

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		kind Kind
		out  string
	}{
		{"/run/x.sock", Unix, "/run/x.sock"},
		{"unix:/run/x.sock", Unix, "/run/x.sock"},
		{"unix:rel/x.sock", Unix, "unix:rel/x.sock"},
		{"./x.sock", Unix, "./x.sock"},
		{"@name", Abstract, "@name"},
		{"@", Abstract, "@"},
		{"unix:@name", Abstract, "@name"},
		{"tcp:127.0.0.1:80", TCP, "tcp:127.0.0.1:80"},
		{"tcp::8080", TCP, "tcp:0.0.0.0:8080"},
		{"tcp:*:0", TCP, "tcp:0.0.0.0:0"},
		{"tcp:localhost:9", TCP, "tcp:127.0.0.1:9"},
		{"udp:10.0.0.1:53", UDP, "udp:10.0.0.1:53"},
		{"tcp6:[::1]:443", TCP6, "tcp6:[::1]:443"},
		{"tcp6:[]:443", TCP6, "tcp6:[::]:443"},
		{"udp6:[fe80::1]:5", UDP6, "udp6:[fe80::1]:5"},
		{"fd:3", FD, "fd:3"},
	}
	for _, c := range good {
		a, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if a.Kind != c.kind || a.String() != c.out {
			t.Errorf("Parse(%q) = kind %d %q, want kind %d %q", c.in, a.Kind, a.String(), c.kind, c.out)
		}
	}
	bad := []struct{ in, why string }{
		{"", "empty"},
		{"x.sock", "expected unix:/path"},
		{"tcp:1.2.3.4", "expected host:port"},
		{"tcp:1.2.3.4:99999", "port must be"},
		{"tcp:1.2.3.4:-1", "port must be"},
		{"tcp:1.2.3.4:+1", "port must be"},
		{"tcp:example.com:80", "not a numeric IP"},
		{"tcp:::1:80", "need an IPv4 host"},
		{"tcp:[::1]:80", "not a numeric IP"},
		{"tcp6:::1:80", "brackets"},
		{"tcp6:[::1]80", "expected [host]:port"},
		{"tcp6:[127.0.0.1]:80", "IPv6 host"},
		{"tcp:[::1]:80", "not a numeric"},
		{"fd:x", "descriptor number"},
		{"fd:-1", "descriptor number"},
		{"ftp:x:1", "unknown scheme"},
		{"unix:", "empty unix path"},
		{"/a\x00b", "NUL"},
	}
	for _, c := range bad {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("Parse(%q) = %v, want error containing %q", c.in, err, c.why)
		}
	}
}

func TestSockaddr(t *testing.T) {
	a, _ := Parse("/" + strings.Repeat("x", 106))
	if _, err := a.Sockaddr(); err != nil {
		t.Errorf("107-byte path should fit: %v", err)
	}
	a, _ = Parse("/" + strings.Repeat("x", 107))
	if _, err := a.Sockaddr(); err == nil || !strings.Contains(err.Error(), "sun_path") {
		t.Errorf("108-byte path should not fit: %v", err)
	}
	a, _ = Parse("udp6:[::1]:53")
	if a.Domain() != unix.AF_INET6 || a.DefaultType() != unix.SOCK_DGRAM {
		t.Errorf("udp6 domain/type wrong")
	}
}

func TestFormatSockaddrRoundTrip(t *testing.T) {
	for _, s := range []string{"/tmp/x", "@abs", "tcp:127.0.0.1:80", "tcp6:[::1]:80"} {
		a, _ := Parse(s)
		sa, err := a.Sockaddr()
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatSockaddr(sa, a.DefaultType()); got != s {
			t.Errorf("FormatSockaddr(%s) = %q", s, got)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// formats back to an address that parses to the same thing.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/run/x", "unix:rel", "@n", "@", "tcp:1.2.3.4:5", "tcp6:[::1]:5", "udp::53", "fd:7", "tcp:localhost:1", "tcp6:[]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", s, a.String(), err)
		}
		if b != a {
			t.Fatalf("round trip of %q: %+v != %+v", s, a, b)
		}
	})
}
