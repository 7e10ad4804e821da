-- fdwire hold-retrieve (see fdwire.tools.holdcli)
return { main = function(argv) return require("fdwire.tools.holdcli").retrieve(argv) end }
