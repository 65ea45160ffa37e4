# mk/demo.mk — `make demo`: FTP through a drop-by-default firewall, failing
# without `gonfct run` and passing with it (scripts/demo; in a VM with
# Debian's 6.1 kernel when this kernel lacks nfnetlink_cthelper).

demo: build
	scripts/demo
