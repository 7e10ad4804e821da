-- fdwire hold-list (see fdwire.tools.holdcli)
return { main = function(argv) return require("fdwire.tools.holdcli").list(argv) end }
