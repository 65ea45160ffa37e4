# The ct tests that need Debian's 6.1 kernel (user-space helpers keep
# private data): the test binary is built here and run in the VM.
.PHONY: vmtest-ct
vmtest-ct:
	$(GO) test -c -tags vmtest -o bin/ct-vm.test ./cmd/gonfct
	scripts/vmtest --timeout 600 -- bin/ct-vm.test -test.run 'TestCtVM' -test.v
