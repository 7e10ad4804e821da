package main

// The tools written in fdwire's own Lua (stdlib/lua/tools/*.lua), each a
// subcommand whose exit status is what the module's main(argv) returns.
func toolCommands() []subcommand {
	return []subcommand{
		{"send", "send descriptors to a waiting `fdwire recv`", runTool("fdwire.tools.send")},
		{"recv", "receive descriptors from `fdwire send` and run a command with them", runTool("fdwire.tools.recv")},
		{"hold", "an fd holder daemon: named descriptors, expiry, access rules", runTool("fdwire.tools.hold")},
		{"hold-store", "store a descriptor in an `fdwire hold` holder", runTool("fdwire.tools.hold_store")},
		{"hold-retrieve", "retrieve a held descriptor and run a command with it", runTool("fdwire.tools.hold_retrieve")},
		{"hold-list", "list the identifiers a holder holds", runTool("fdwire.tools.hold_list")},
		{"hold-delete", "delete a held descriptor", runTool("fdwire.tools.hold_delete")},
		{"hold-transfer", "copy a holder's whole state into another holder", runTool("fdwire.tools.hold_transfer")},
		{"portlisten", "bind a (privileged) port, drop root, hand the listener or each connection to a handler", runTool("fdwire.tools.portlisten")},
		{"activate", "socket activation for testing, as systemd-socket-activate", runTool("fdwire.tools.activate")},
	}
}
