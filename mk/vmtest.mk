# mk/vmtest.mk — real-kernel VM tests; `include mk/vmtest.mk` from the
# top-level Makefile. Needs root on Debian 12 on first use (installs qemu,
# busybox-static, cpio, kmod, nfct, conntrack and caches a Debian 6.1 kernel
# in $(GONFCT_VMCACHE), default .cache/vmtest). See scripts/vmtest.
#
#   make vmtest                       build vmtest binaries, run them in one VM
#   make vmtest VMTEST_TIMEOUT=3600   allow the VM more time
#   make vmtest-selftest              only the harness self-test
#   make vmtest-shell VMTEST_CMD='uname -r'  run one command in the VM

VMTEST_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
# The whole VM run (TCG): the e2e suite grew with the namespace, HA,
# pattern and rewrite scenarios; CI allows 90 minutes for all of make test.
VMTEST_TIMEOUT ?= 4500
VMTEST_MEM ?= 1024
VMTEST_CMD ?= uname -a

.PHONY: vmtest vmtest-selftest vmtest-shell

vmtest:
	$(VMTEST_ROOT)/scripts/vm/suite --timeout $(VMTEST_TIMEOUT) --mem $(VMTEST_MEM)

vmtest-selftest:
	cd $(VMTEST_ROOT) && scripts/vmtest --timeout $(VMTEST_TIMEOUT) --mem $(VMTEST_MEM) -- scripts/vm/selftest.sh

vmtest-shell:
	$(VMTEST_ROOT)/scripts/vmtest --timeout $(VMTEST_TIMEOUT) --mem $(VMTEST_MEM) -- sh -c '$(VMTEST_CMD)'
