-- fdwire hold-transfer (see fdwire.tools.holdcli)
return { main = function(argv) return require("fdwire.tools.holdcli").transfer(argv) end }
