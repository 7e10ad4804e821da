// Package docs embeds the Lua API reference so that the REPL's :help and
// the docs-coverage test read the same source users read.
package docs

import "embed"

// Pages holds every docs/*.md page.
//
//go:embed *.md
var Pages embed.FS
