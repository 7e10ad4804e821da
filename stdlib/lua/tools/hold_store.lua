-- fdwire hold-store (see fdwire.tools.holdcli)
return { main = function(argv) return require("fdwire.tools.holdcli").store(argv) end }
