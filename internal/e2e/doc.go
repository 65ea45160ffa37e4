// Package e2e holds gonfct's end-to-end tests: whole command lines against
// real kernels and real peers. It has no code of its own; every test is in
// a _test.go file, in one of three tiers:
//
//   - unit (no tag, no root): command lines run in this process through
//     root.Run (the helper `run` in main_test.go), completion scripts in real
//     shells, `helper test` on recorded captures;
//   - host (*_host_test.go, build tag hosttest, root): each test in its own
//     network namespace (internal/nstest) on this kernel;
//   - VM (*_vm_test.go, build tag vmtest): Debian's 6.1 kernel under qemu
//     (make vmtest), running bin/gonfct for the engine, with the routed test
//     networks (routedNet, ftpNet, upnpLAN), startRun and ownHelpers.
//
// A new end-to-end test goes here, next to those helpers; the unit tests of
// a command's parsing stay with its package under internal/cmd.
package e2e
