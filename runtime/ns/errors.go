package ns

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/fdwire/fdwire/runtime/sys"
)

// errf is an EINVAL argument error of a spawn's isolation settings.
func errf(what, format string, args ...any) error {
	return sys.Errorf("spawn", what, unix.EINVAL, format, args...)
}

// UsernsHint explains why the kernel refused to create a user namespace,
// naming the sysctl (or limit) that forbids it on this host.
func UsernsHint() string {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var why []string
	if v := read("/proc/sys/kernel/unprivileged_userns_clone"); v == "0" {
		why = append(why, "sysctl kernel.unprivileged_userns_clone=0 forbids unprivileged user namespaces")
	}
	if v := read("/proc/sys/user/max_user_namespaces"); v == "0" {
		why = append(why, "sysctl user.max_user_namespaces=0 forbids user namespaces")
	}
	if v := read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); v == "1" {
		why = append(why, "sysctl kernel.apparmor_restrict_unprivileged_userns=1 lets AppArmor deny unprivileged user namespaces")
	}
	if len(why) == 0 {
		return "the kernel refused a new user namespace (sysctls kernel.unprivileged_userns_clone, user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns allow it; a seccomp filter or LSM may not)"
	}
	return strings.Join(why, "; ")
}

// ForkError explains a failed fork that created namespaces: which
// namespaces were asked for and what the kernel's errno means for them.
func ForkError(err error, cloneFlags int) error {
	if cloneFlags == 0 || err == nil {
		return err
	}
	en := sys.ErrnoOf(err)
	hint := "creating " + names(cloneFlags) + " namespaces"
	switch {
	case cloneFlags&unix.CLONE_NEWUSER != 0 && (en == unix.EPERM || en == unix.EACCES):
		hint += ": " + UsernsHint()
	case cloneFlags&unix.CLONE_NEWUSER != 0 && en == unix.ENOSPC:
		hint += ": the user.max_user_namespaces limit (or the nesting depth of 32) is reached"
	case en == unix.EPERM:
		hint += ": creating a " + names(cloneFlags&^unix.CLONE_NEWUSER) + " namespace needs CAP_SYS_ADMIN; add \"user\" to namespaces to create it unprivileged"
	case en == unix.EINVAL:
		hint += ": the kernel refuses this combination (EINVAL)"
	case en == unix.ENOSPC:
		hint += ": a /proc/sys/user/max_*_namespaces limit is reached"
	}
	var se *sys.Error
	if errors.As(err, &se) {
		return sys.WithHint(err, hint)
	}
	return &sys.Error{Op: "spawn", Err: err, Hint: hint}
}

// ForkError is ForkError for this plan's fork: with id maps other than
// the default it adds that they, too, may be what was refused.
func (p *Plan) ForkError(err error) error {
	err = ForkError(err, p.CloneFlags)
	if p.customMap && p.CloneFlags&unix.CLONE_NEWUSER != 0 && sys.ErrnoOf(err) == unix.EPERM {
		err = sys.WithHint(err, "or the uid_map/gid_map asks for more than an unprivileged process may map (its own uid and gid, one line each)")
	}
	return err
}
