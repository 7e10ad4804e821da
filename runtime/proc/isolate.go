package proc

import (
	"syscall"

	"github.com/fdwire/fdwire/runtime/ns"
)

// Namespace and root steps of spawn and exec (runtime/ns does the work).
// They hook into the plan at three points: prepare (check and plan),
// the fork (clone flags, id maps, joins on the forking thread, the
// descriptors the child's set-up needs above its map) and the trampoline
// (ChildSpec.Apply before the credentials change, Finish and the exec at
// the end).

// prepareIsolation plans a.Isolate; it forces the trampoline, which does
// the child's half.
func prepareIsolation(a Attr, forExec bool, pl *plan) error {
	if a.Isolate == nil {
		return nil
	}
	p, err := ns.Prepare(a.Isolate, forExec)
	if err != nil {
		return err
	}
	pl.iso = p
	if p.Child.HasRoot || hasMountJoin(p) {
		// The working directory is taken in the child's new root (or
		// joined mount namespace), after it is entered.
		p.Child.Cwd = a.Dir
		if p.Child.Cwd == "" {
			p.Child.Cwd = "/"
		}
	}
	return nil
}

func hasMountJoin(p *ns.Plan) bool {
	for _, j := range p.Child.Joins {
		if j.Flags&syscall.CLONE_NEWNS != 0 {
			return true
		}
	}
	return false
}

// isolationFds places the set-up's descriptors at top+1, top+2, ... in
// the child and returns the new top.
func isolationFds(pl *plan, top int) int {
	if pl.iso == nil {
		return top
	}
	pl.iso.Child.AuxBase = top + 1
	pl.iso.Child.NAux = len(pl.iso.Aux)
	for _, f := range pl.iso.Aux {
		top++
		pl.fds[top] = f.Raw()
	}
	return top
}

// isolationAttr sets the fork's namespace attributes.
func isolationAttr(pl *plan, spa *syscall.SysProcAttr, dir *string) {
	if pl.iso == nil {
		return
	}
	p := pl.iso
	spa.Cloneflags |= uintptr(p.CloneFlags)
	spa.UidMappings, spa.GidMappings = p.UIDMap, p.GIDMap
	spa.GidMappingsEnableSetgroups = false
	if len(p.Ambient) > 0 {
		spa.AmbientCaps = p.Ambient
	}
	if p.Child.Cwd != "" {
		*dir = ""
	}
}

func (pl *plan) closeIsolation() {
	if pl.iso != nil {
		pl.iso.Close()
	}
}
