package main

// The tools written in fdwire's own Lua (stdlib/lua/tools/*.lua), each a
// subcommand whose exit status is what the module's main(argv) returns.
func init() {
	register("send", "send descriptors to a waiting `fdwire recv`", runTool("fdwire.tools.send"))
	register("recv", "receive descriptors from `fdwire send` and run a command with them", runTool("fdwire.tools.recv"))
	register("hold", "an fd holder daemon: named descriptors, expiry, access rules", runTool("fdwire.tools.hold"))
	register("hold-store", "store a descriptor in an `fdwire hold` holder", runTool("fdwire.tools.hold_store"))
	register("hold-retrieve", "retrieve a held descriptor and run a command with it", runTool("fdwire.tools.hold_retrieve"))
	register("hold-list", "list the identifiers a holder holds", runTool("fdwire.tools.hold_list"))
	register("hold-delete", "delete a held descriptor", runTool("fdwire.tools.hold_delete"))
	register("hold-transfer", "copy a holder's whole state into another holder", runTool("fdwire.tools.hold_transfer"))
}

func init() {
	register("portlisten", "bind a (privileged) port, drop root, hand the listener or each connection to a handler", runTool("fdwire.tools.portlisten"))
}

func init() {
	register("activate", "socket activation for testing, as systemd-socket-activate", runTool("fdwire.tools.activate"))
}
