# mk/package.mk — the Debian package.
#
#   make package         dist/gonfct_<version>_<arch>.deb (scripts/package)
#   make package-check   the same, then lintian: no error allowed
#
# Installing and removing it is a VM test (TestPackageVM, internal/e2e):
# dpkg -i there vanishes with the VM.

.PHONY: package package-check

package:
	VERSION='$(VERSION)' GO='$(GO)' scripts/package

# --fail-on error: warnings are reported, not fatal. lintian runs as root
# in make test; it would rather not, hence --allow-root.
package-check: package
	lintian --fail-on error --allow-root --display-info dist/gonfct_*.deb
