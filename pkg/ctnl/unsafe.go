package ctnl

import "unsafe"

// ptr passes a Go value's address to a raw getsockopt.
func ptr(p *uint32) uintptr { return uintptr(unsafe.Pointer(p)) }
