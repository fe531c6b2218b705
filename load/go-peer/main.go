// go-peer: the Go program pprofd is measured against. It serves Go's own
// net/http/pprof on the address given, with a workload shaped like
// pprofd-demo's (two CPU burners, allocation churn, retained memory), so a
// load generator can hit the same paths on both.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"
)

var sink uint64

//go:noinline
func burnHashing(x uint64) uint64 {
	for i := 0; i < 200000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

func cpuWorker() {
	x := uint64(time.Now().UnixNano())
	for {
		x = burnHashing(x)
		sink = x
		time.Sleep(2 * time.Millisecond)
	}
}

//go:noinline
func churnSmallObjects() {
	for i := 0; i < 1000; i++ {
		b := make([]byte, 64+i%512)
		b[0] = byte(i)
		sink += uint64(b[0])
	}
}

func allocWorker() {
	for {
		churnSmallObjects()
		time.Sleep(5 * time.Millisecond)
	}
}

var retained [][]byte

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "where to listen")
	flag.Parse()
	for i := 0; i < 4096; i++ {
		retained = append(retained, make([]byte, 4096))
	}
	go cpuWorker()
	go cpuWorker()
	go allocWorker()
	go allocWorker()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// Same form as pprofd's line, so scripts find the port the same way.
	fmt.Fprintf(os.Stderr, "go-peer: listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
