package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// The RPC load: portmapper v2 GETPORT calls over TCP (RFC 1833, records
// as in RFC 5531 §11), each answered with a fresh port, so that every
// reply makes the rpc helper under test create an expectation.
const (
	rpcPortmap    = 100000
	rpcGetPort    = 3
	rpcAskProgram = 100099 // a made-up program: the portmapper itself is never expected
	rpcLastFrag   = 1 << 31
)

// rpcCall is a GETPORT call for rpcAskProgram v1 over TCP, AUTH_NULL.
func rpcCall(xid uint32) []byte {
	words := []uint32{
		0,         // record mark, set below
		xid, 0, 2, // xid, CALL, RPC version 2
		rpcPortmap, 2, rpcGetPort, // program, version, procedure
		0, 0, 0, 0, // cred and verf: AUTH_NULL, length 0
		rpcAskProgram, 1, 6, 0, // prog, vers, prot (TCP), port
	}
	words[0] = rpcLastFrag | uint32(4*(len(words)-1))
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// rpcReply answers xid with port: REPLY, MSG_ACCEPTED, AUTH_NULL verifier,
// SUCCESS, port.
func rpcReply(xid, port uint32) []byte {
	words := []uint32{0, xid, 1, 0, 0, 0, 0, port}
	words[0] = rpcLastFrag | uint32(4*(len(words)-1))
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// readRecord reads one single-fragment record and returns its body.
func readRecord(c net.Conn, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		return nil, err
	}
	mark := binary.BigEndian.Uint32(buf[:4])
	n := int(mark &^ rpcLastFrag)
	if mark&rpcLastFrag == 0 || n < 8 || n > len(buf) {
		return nil, fmt.Errorf("record mark %#x: want one fragment of 8 to %d bytes", mark, len(buf))
	}
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// serveRPC answers every GETPORT call on the connection with a fresh port.
func serveRPC(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	for {
		body, err := readRecord(c, buf)
		if err != nil {
			return
		}
		xid := binary.BigEndian.Uint32(body)
		if _, err := c.Write(rpcReply(xid, uint32(dataPort()))); err != nil {
			return
		}
	}
}

// rpcSession runs GETPORT exchanges on one connection and returns their
// round trips.
func rpcSession(addr string, count int, stop *atomic.Bool, n *atomic.Int64) ([]time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 1024)
	var rtts []time.Duration
	for i := 0; count == 0 || i < count; i++ {
		if count == 0 && stop.Load() {
			break
		}
		xid := uint32(i + 1)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t0 := time.Now()
		if _, err := c.Write(rpcCall(xid)); err != nil {
			return rtts, err
		}
		body, err := readRecord(c, buf)
		if err != nil {
			return rtts, err
		}
		rtts = append(rtts, time.Since(t0))
		if len(body) < 24 || binary.BigEndian.Uint32(body) != xid || binary.BigEndian.Uint32(body[4:]) != 1 {
			return rtts, errors.New("rpc: reply does not answer the call")
		}
		n.Add(1)
	}
	return rtts, nil
}
