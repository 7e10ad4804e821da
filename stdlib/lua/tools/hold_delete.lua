-- fdwire hold-delete (see fdwire.tools.holdcli)
return { main = function(argv) return require("fdwire.tools.holdcli").delete(argv) end }
