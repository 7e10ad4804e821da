package main

import "github.com/fdwire/fdwire/internal/clidoc"

// manPages holds what each man page has beyond its option spec: worked
// examples and related pages. The send/recv demo is the one of the
// util-linux fdsend/fdrecv proposal; tests/man_test.go runs it.
var manPages = map[string]clidoc.Page{
	"": {
		Examples: [][2]string{
			{"Run a script, code from the command line, or a script from stdin:",
				"fdwire scripts/hello-fdpass.lua\nfdwire -e 'local r, w = fd.pipe() print(r:info().kind)'\necho 'print(proc.self().pid)' | fdwire -"},
			{"Install the manual pages and bash completion for the current user:",
				"fdwire man --install ~/.local/share/man\nfdwire completion bash > ~/.local/share/bash-completion/completions/fdwire"},
		},
		SeeAlso: []string{"unix(7)", "pidfd_getfd(2)"},
	},
	"send": {
		Examples: [][2]string{
			{"Start a receiver that runs cat on whatever descriptor it is sent at fd 0, then send it this shell's stdin, a pipe:",
				"$ fdwire recv -f 0 test --run cat &\n$ echo 'hello world' | fdwire send -f 0 test\nhello world"},
			{"Hand a running process's descriptor 3 (a socket, hence --dup) to a receiver on an abstract socket:",
				"fdwire send --pid 4242 --dup -f 3 @handoff"},
			{"Wait up to a minute for the receiver to appear:",
				"fdwire send --blocking --timeout 60 -f 1 logs"},
		},
		SeeAlso: []string{"fdwire-recv(1)", "fdwire-hold(1)", "unix(7)", "pidfd_getfd(2)"},
	},
	"recv": {
		Examples: [][2]string{
			{"Receive one descriptor as stdin of cat; the sender's stdin is a pipe from echo:",
				"$ fdwire recv -f 0 test --run cat &\n$ echo 'hello world' | fdwire send -f 0 test\nhello world"},
			{"Take three descriptors from one sender, in order, as stdin, stdout and stderr:",
				"fdwire recv -f 0 tty -f 1 tty -f 2 tty -- sh -i\n# elsewhere: fdwire send -f 0 -f 1 -f 2 tty"},
			{"Accept a sender of another user, on an abstract socket:",
				"fdwire recv --abstract --allow-uid 1000 --stdin feed -- wc -l"},
		},
		SeeAlso: []string{"fdwire-send(1)", "fdwire-hold(1)", "unix(7)"},
	},
	"activate": {
		Examples: [][2]string{
			{"Start a socket-activated service at the first connection to port 8080:",
				"fdwire activate -l 8080 -- ./server"},
			{"Run one cat per connection, inetd style:",
				"fdwire activate -l @echo --accept --inetd -- cat"},
		},
		SeeAlso: []string{"systemd-socket-activate(1)", "sd_listen_fds(3)", "fdwire-portlisten(1)"},
	},
	"portlisten": {
		Examples: [][2]string{
			{"As root, bind port 80, become nobody, and hand each connection to an unprivileged handler on @web:",
				"fdwire portlisten --user nobody tcp:0.0.0.0:80 @web"},
			{"Pass the listening socket once and exit:",
				"fdwire portlisten --pass listener tcp:127.0.0.1:8080 @web"},
		},
		SeeAlso: []string{"fdwire-activate(1)", "fdwire-recv(1)", "capabilities(7)"},
	},
	"hold": {
		Examples: [][2]string{
			{"Start a holder, store an open file in it (stdin, the default), and later run a command with it:",
				"fdwire hold keep &\nfdwire hold-store keep data < data.txt\nfdwire hold-retrieve keep data -- wc -c"},
			{"Allow uid 1000 to store and retrieve under app/:",
				"echo 'allow uid:1000 store,retrieve app/*' > rules\nfdwire hold --rules rules shared"},
		},
		SeeAlso: []string{"fdwire-hold-store(1)", "fdwire-hold-retrieve(1)", "fdwire-hold-list(1)",
			"fdwire-hold-delete(1)", "fdwire-hold-transfer(1)", "sd_pid_notify_with_fds(3)"},
	},
	"hold-store": {
		Examples: [][2]string{{"Store this shell's stdout under log, expiring after an hour:", "fdwire hold-store --expire 3600 -f 1 keep log"}},
		SeeAlso:  []string{"fdwire-hold(1)", "fdwire-hold-retrieve(1)"},
	},
	"hold-retrieve": {
		Examples: [][2]string{{"Run a server with the held listener at fd 3, and delete it from the holder:", "fdwire hold-retrieve --delete -f 3 keep web/listener -- ./server"}},
		SeeAlso:  []string{"fdwire-hold(1)", "fdwire-hold-store(1)"},
	},
	"hold-list": {
		Examples: [][2]string{{"List what the holder keep holds:", "fdwire hold-list keep"}},
		SeeAlso:  []string{"fdwire-hold(1)"},
	},
	"hold-delete": {
		Examples: [][2]string{{"Close the held descriptor log:", "fdwire hold-delete keep log"}},
		SeeAlso:  []string{"fdwire-hold(1)"},
	},
	"hold-transfer": {
		Examples: [][2]string{{"Move everything from an old holder to a new one before stopping the old:", "fdwire hold keep2 &\nfdwire hold-transfer keep keep2"}},
		SeeAlso:  []string{"fdwire-hold(1)"},
	},
	"up": {
		Examples: [][2]string{{"Run the example pipeline topology, quietly:", "fdwire up --quiet scripts/pipeline.topo.lua"}},
		SeeAlso:  []string{"fdwire-graph(1)", "fdwire-test(1)", "fdwire-lua(7)"},
	},
	"test": {
		Examples: [][2]string{{"Run every test file in tests/, two at a time, only the tests named like echo:", "fdwire test --jobs 2 --run echo tests/*.lua"}},
		SeeAlso:  []string{"fdwire-up(1)", "fdwire-lua(7)"},
	},
	"graph": {
		Examples: [][2]string{
			{"Draw a topology file:", "fdwire graph -o pipeline.svg scripts/pipeline.topo.lua"},
			{"Draw the shell you type it in, with its jobs; then a cgroup's processes as JSON:",
				"fdwire graph --pid $$ -o shell.svg\nfdwire graph --json --cgroup system.slice/ssh.service"},
		},
		SeeAlso: []string{"dot(1)", "fdwire-up(1)", "lsfd(1)", "sock_diag(7)"},
	},
	"repl": {
		Examples: [][2]string{{"Make a pipe and ask the kernel about it:", "$ fdwire\n> r, w = fd.pipe()\n> :fds"}},
		SeeAlso:  []string{"fdwire-lua(7)"},
	},
	"man": {
		Examples: [][2]string{{"Read the recv page, then install all pages for this user:", "fdwire man recv\nfdwire man --install ~/.local/share/man"}},
		SeeAlso:  []string{"man(1)", "fdwire-completion(1)"},
	},
	"completion": {
		Examples: [][2]string{{"Enable completion in the running bash, and for every new one:", "source <(fdwire completion bash)\nfdwire completion bash > ~/.local/share/bash-completion/completions/fdwire"}},
		SeeAlso:  []string{"bash(1)", "zsh(1)", "fish(1)"},
	},
	"types": {
		Examples: [][2]string{{"Give lua-language-server the types of fdwire's modules:", "mkdir -p types && fdwire types > types/fdwire.lua\necho '{\"workspace.library\": [\"types\"]}' > .luarc.json"}},
		SeeAlso:  []string{"fdwire-lua(7)"},
	},
}
