module github.com/gonfct/gonfct/bench

go 1.26

require (
	github.com/gonfct/gonfct v0.0.0
	github.com/mdlayher/netlink v1.9.0
	github.com/ti-mo/netfilter v0.5.3
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/mdlayher/socket v0.5.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/net v0.50.0 // indirect
	golang.org/x/sync v0.14.0 // indirect
	golang.org/x/sys v0.41.0 // indirect
)

replace github.com/gonfct/gonfct => ../
