package main

//go:generate env FDWIRE_REGEN=1 go test -run TestGeneratedFiles .

import (
	"github.com/fdwire/fdwire/internal/clidoc"
)

// generatedFiles returns every file fdwire generates from its specs and
// docs, keyed by its path in the repository (docs/man/..., docs/types/...).
// TestGeneratedFiles keeps the checked-in copies equal to these;
// FDWIRE_REGEN=1 go test ./cmd/fdwire -run TestGeneratedFiles (or go
// generate ./cmd/fdwire) rewrites them.
func generatedFiles() (map[string]string, error) {
	cmds, err := allSpecs()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	top := topSpec
	out["docs/man/fdwire.1"] = clidoc.ManTop(top, cmds, manPages[""])
	for _, c := range cmds {
		out["docs/man/fdwire-"+c.Name+".1"] = clidoc.Man(c, manPages[c.Name])
	}
	pages, err := apiDocs()
	if err != nil {
		return nil, err
	}
	out["docs/man/fdwire-lua.7"] = clidoc.ManLua(pages)
	out["docs/types/fdwire.lua"] = clidoc.Types(pages)
	return out, nil
}
