module github.com/fdwire/fdwire

go 1.26.8

require (
	github.com/chzyer/readline v1.5.1
	github.com/yuin/gopher-lua v1.1.2
	golang.org/x/sys v0.50.0
)
