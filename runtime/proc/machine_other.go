//go:build !amd64 && !arm64

package proc

import "debug/elf"

// Elsewhere the ELF machine is not checked before exec (EM_NONE).
const (
	nativeMachine = elf.EM_NONE
	nativeClass   = elf.ELFCLASSNONE
)
