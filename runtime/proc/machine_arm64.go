package proc

import "debug/elf"

const (
	nativeMachine = elf.EM_AARCH64
	nativeClass   = elf.ELFCLASS64
)
