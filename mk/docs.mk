# mk/docs.mk — generated documentation.
#
#   make man    regenerate docs/man from the command tree (TestManPagesCurrent
#               fails when docs/man is stale)

.PHONY: man

man:
	rm -f docs/man/*.8
	$(GO) run ./cmd/gonfct gen-man docs/man
