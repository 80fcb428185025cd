package udp_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/snbridge/snbridge/transport/udp"
)

// The reader loop of a gateway: one goroutine per Conn, closed when the
// context ends.
func Example() {
	gw, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0", RecvBuffer: 1 << 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer context.AfterFunc(ctx, func() { gw.Close() })()

	client, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	client.WriteTo([]byte{3, 0x01, 0}, gw.LocalAddr()) // SEARCHGW

	buf := make([]byte, gw.MaxPayload())
	for {
		n, from, err := gw.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			fmt.Println("closed")
			return
		}
		fmt.Printf("% x from the client: %v\n", buf[:n], from == client.LocalAddr())
		cancel()
	}
	// Output:
	// 03 01 00 from the client: true
	// closed
}
