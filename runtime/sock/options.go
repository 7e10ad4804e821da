package sock

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/fdio"
	"github.com/fdwire/fdwire/runtime/sys"
)

// Option is a socket option scripts set by name.
type Option struct {
	Level, Opt int
	CName      string
	Bool       bool   // a flag (0/1) rather than a number
	Kernel     string // the first Linux version that has it, for errors
}

// options are the socket options sock.setopt and sock.getopt know,
// sorted by name (a slice: runtime/ keeps no package-level maps, issue 13).
var options = []struct {
	name string
	opt  Option
}{
	{"broadcast", Option{unix.SOL_SOCKET, unix.SO_BROADCAST, "SO_BROADCAST", true, ""}},
	{"keepalive", Option{unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE", true, ""}},
	{"passcred", Option{unix.SOL_SOCKET, unix.SO_PASSCRED, "SO_PASSCRED", true, ""}},
	{"passpidfd", Option{unix.SOL_SOCKET, unix.SO_PASSPIDFD, "SO_PASSPIDFD", true, "6.5"}},
	{"passrights", Option{unix.SOL_SOCKET, unix.SO_PASSRIGHTS, "SO_PASSRIGHTS", true, "6.16"}},
	{"rcvbuf", Option{unix.SOL_SOCKET, unix.SO_RCVBUF, "SO_RCVBUF", false, ""}},
	{"reuseaddr", Option{unix.SOL_SOCKET, unix.SO_REUSEADDR, "SO_REUSEADDR", true, ""}},
	{"reuseport", Option{unix.SOL_SOCKET, unix.SO_REUSEPORT, "SO_REUSEPORT", true, ""}},
	{"sndbuf", Option{unix.SOL_SOCKET, unix.SO_SNDBUF, "SO_SNDBUF", false, ""}},
}

// LookupOption finds a socket option by its Lua name ("passcred").
func LookupOption(name string) (Option, bool) {
	for _, o := range options {
		if o.name == name {
			return o.opt, true
		}
	}
	return Option{}, false
}

// OptionNames lists the options' names, sorted.
func OptionNames() []string {
	out := make([]string, 0, len(options))
	for _, o := range options {
		out = append(out, o.name)
	}
	return out
}

func kernelHint(err error, o Option) error {
	if o.Kernel != "" && errors.Is(err, unix.ENOPROTOOPT) {
		return sys.WithHint(err, o.CName+" needs Linux "+o.Kernel+" or newer")
	}
	return err
}

// SetOption sets a named option. Turning on passcred or passpidfd tags the
// handle so that receives reserve control-message room for what the
// kernel then adds before SCM_RIGHTS.
func SetOption(s *fdio.FD, o Option, v int) error {
	n, err := s.Num()
	if err != nil {
		return err
	}
	if err := sys.SetsockoptInt(n, o.Level, o.Opt, v, o.CName); err != nil {
		return kernelHint(err, o)
	}
	if v != 0 {
		switch o.Opt {
		case unix.SO_PASSCRED:
			tagOnce(s, "passcred")
		case unix.SO_PASSPIDFD:
			tagOnce(s, "passpidfd")
		}
	}
	return nil
}

// GetOption reads a named option.
func GetOption(s *fdio.FD, o Option) (int, error) {
	n, err := s.Num()
	if err != nil {
		return 0, err
	}
	v, err := sys.GetsockoptInt(n, o.Level, o.Opt, o.CName)
	return v, kernelHint(err, o)
}

func tagOnce(s *fdio.FD, t string) {
	if !s.HasTag(t) {
		s.Tag(t)
	}
}

// PassesCredentials reports whether SO_PASSCRED or SO_PASSPIDFD is on, for
// sockets that got it without SetOption (an accepted socket inherits the
// listener's flags).
func PassesCredentials(s *fdio.FD) bool {
	n, err := s.Num()
	if err != nil {
		return false
	}
	for _, o := range []int{unix.SO_PASSCRED, unix.SO_PASSPIDFD} {
		if v, err := sys.GetsockoptInt(n, unix.SOL_SOCKET, o, "SO_PASSCRED"); err == nil && v != 0 {
			return true
		}
	}
	return false
}
