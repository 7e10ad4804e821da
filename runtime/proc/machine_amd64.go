package proc

import "debug/elf"

const (
	nativeMachine = elf.EM_X86_64
	nativeClass   = elf.ELFCLASS64
)
