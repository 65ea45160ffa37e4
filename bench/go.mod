module github.com/gonfct/gonfct/bench

go 1.26

require (
	github.com/gonfct/gonfct v0.0.0
	github.com/mdlayher/netlink v1.11.2
	github.com/ti-mo/netfilter v0.5.3
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/mdlayher/socket v0.6.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/net v0.53.0 // indirect
	golang.org/x/sync v0.20.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
)

replace github.com/gonfct/gonfct => ../
