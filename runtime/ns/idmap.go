package ns

import (
	"fmt"
	"os"
	"syscall"
)

// IDMap is one line of a uid_map or gid_map: Count ids from Inside (in
// the new user namespace) are Outside ids in the parent's.
type IDMap struct {
	Inside, Outside, Count uint32
}

// DefaultUIDMap maps the caller's uid to itself: the child is the same
// user inside as outside (and has no capabilities after exec unless that
// uid is 0).
func DefaultUIDMap() []IDMap { return []IDMap{{uint32(os.Getuid()), uint32(os.Getuid()), 1}} }

// DefaultGIDMap maps the caller's gid to itself.
func DefaultGIDMap() []IDMap { return []IDMap{{uint32(os.Getgid()), uint32(os.Getgid()), 1}} }

// RootUIDMap maps uid 0 inside to the caller's uid ("root inside").
func RootUIDMap() []IDMap { return []IDMap{{0, uint32(os.Getuid()), 1}} }

// RootGIDMap maps gid 0 inside to the caller's gid.
func RootGIDMap() []IDMap { return []IDMap{{0, uint32(os.Getgid()), 1}} }

func checkMap(what string, m []IDMap) error {
	if len(m) == 0 {
		return errf(what, "a map needs at least one line {inside, outside, count}")
	}
	if len(m) > 340 {
		return errf(what, "the kernel takes at most 340 lines")
	}
	for i, l := range m {
		if l.Count == 0 {
			return errf(what, "line %d has count 0", i+1)
		}
		if uint64(l.Inside)+uint64(l.Count) > 1<<32 || uint64(l.Outside)+uint64(l.Count) > 1<<32 {
			return errf(what, "line %d runs past id 4294967295", i+1)
		}
		for j := 0; j < i; j++ {
			o := m[j]
			if overlap(l.Inside, l.Count, o.Inside, o.Count) || overlap(l.Outside, l.Count, o.Outside, o.Count) {
				return errf(what, "lines %d and %d overlap", j+1, i+1)
			}
		}
	}
	return nil
}

func overlap(a, n, b, m uint32) bool {
	return uint64(a) < uint64(b)+uint64(m) && uint64(b) < uint64(a)+uint64(n)
}

func sysMap(m []IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, l := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(l.Inside), HostID: int(l.Outside), Size: int(l.Count)}
	}
	return out
}

// String formats a map as uid_map does ("0 1000 1").
func (m IDMap) String() string { return fmt.Sprintf("%d %d %d", m.Inside, m.Outside, m.Count) }
