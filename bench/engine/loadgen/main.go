// Command loadgen makes FTP control-channel load for the helper engine
// benchmark (bench/engine/run.sh): a server that answers every "PASV" with
// a "227 Entering Passive Mode" reply naming itself and a fresh port, and
// a client that sends PASV after PASV on many connections and measures
// each exchange's round trip. Every 227 makes the helper under test create
// an expectation, so the load is the helper's real work: a packet to
// queue, parse and answer, and an expectation to create.
//
//	loadgen server -listen 10.0.0.2:21
//	loadgen client -addr 10.0.0.2:21 -conns 32 -duration 10s
//	loadgen client -addr 10.0.0.2:21 -conns 1 -count 2000
//
// The client prints one JSON object: exchanges, seconds, exchanges per
// second, and the round-trip times' median, p90 and p99 in microseconds.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen server|client [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want server or client", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	listen := fs.String("listen", ":21", "address to listen on")
	fs.Parse(args)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go serve(c)
	}
}

// nextPort hands out data ports across all connections, so that no two
// masters announce the same data connection (the kernel refuses a second
// expectation of the same tuple for another master).
var nextPort atomic.Uint32

func dataPort() int { return 1024 + int(nextPort.Add(1)%(65536-1024)) }

// serve answers one connection: a banner, then a 227 (or a 229 over IPv6)
// for every line, with a port that changes each time.
func serve(c net.Conn) {
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr)
	ip4 := local.IP.To4()
	w := bufio.NewWriter(c)
	r := bufio.NewReader(c)
	fmt.Fprintf(w, "220 loadgen\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(line, "QUIT") {
			fmt.Fprintf(w, "221 bye\r\n")
			w.Flush()
			return
		}
		port := dataPort()
		if ip4 != nil {
			fmt.Fprintf(w, "227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).\r\n", ip4[0], ip4[1], ip4[2], ip4[3], port>>8, port&0xff)
		} else {
			fmt.Fprintf(w, "229 Entering Extended Passive Mode (|||%d|)\r\n", port)
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

type result struct {
	Conns       int     `json:"conns"`
	Exchanges   int64   `json:"exchanges"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"exchanges_per_second"`
	MedianMicro float64 `json:"rtt_median_us"`
	P90Micro    float64 `json:"rtt_p90_us"`
	P99Micro    float64 `json:"rtt_p99_us"`
}

func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "", "server address HOST:PORT")
	conns := fs.Int("conns", 16, "parallel control connections")
	duration := fs.Duration("duration", 10*time.Second, "how long to run (when -count is 0)")
	count := fs.Int("count", 0, "exchanges per connection (0: run for -duration)")
	fs.Parse(args)
	if *addr == "" {
		return errors.New("-addr is required")
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		rtts      []time.Duration
		exchanges atomic.Int64
		errs      atomic.Int64
		stop      atomic.Bool
		firstErr  error
	)
	start := time.Now()
	if *count == 0 {
		time.AfterFunc(*duration, func() { stop.Store(true) })
	}
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local, err := session(*addr, *count, &stop, &exchanges)
			if err != nil {
				errs.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
			mu.Lock()
			rtts = append(rtts, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if len(rtts) == 0 {
		return fmt.Errorf("no exchange completed: %v", firstErr)
	}
	slices.Sort(rtts)
	q := func(p float64) float64 {
		return float64(rtts[int(p*float64(len(rtts)-1))].Nanoseconds()) / 1000
	}
	res := result{Conns: *conns, Exchanges: exchanges.Load(), Errors: errs.Load(), Seconds: secs,
		PerSecond: float64(exchanges.Load()) / secs, MedianMicro: q(0.5), P90Micro: q(0.9), P99Micro: q(0.99)}
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "loadgen: first error:", firstErr)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// session runs PASV exchanges on one connection and returns their round
// trips.
func session(addr string, count int, stop *atomic.Bool, n *atomic.Int64) ([]time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("banner: %w", err)
	}
	var rtts []time.Duration
	for i := 0; count == 0 || i < count; i++ {
		if count == 0 && stop.Load() {
			break
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t0 := time.Now()
		if _, err := c.Write([]byte("PASV\r\n")); err != nil {
			return rtts, err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return rtts, err
		}
		rtts = append(rtts, time.Since(t0))
		if !strings.HasPrefix(line, "227 ") && !strings.HasPrefix(line, "229 ") {
			return rtts, fmt.Errorf("reply %q", line)
		}
		n.Add(1)
	}
	c.Write([]byte("QUIT\r\n"))
	return rtts, nil
}
