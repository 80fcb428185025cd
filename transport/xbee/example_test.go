package xbee_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/xbee"
)

// A client tool (mqttsn-pub --xbee /dev/ttyUSB1 --api-mode 2) uses the
// same Conn as the gateway: it runs it on its own radio and writes to the
// gateway radio's 64-bit address. Without a known address, it broadcasts
// SEARCHGW to BroadcastAddr and takes the sender of the GWINFO answer.
func Example_client() {
	gw, err := xbee.ParseEUI64("0013A20040A1B2C3") // e.g. from --gateway
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := xbee.New(xbee.Config{
		Device:      "/dev/ttyUSB1",
		APIMode:     2,
		ExitOnError: true, // a one-shot tool fails instead of waiting for the dongle
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var g errgroup.Group
	g.Go(func() error { return c.Run(ctx) })
	if err := c.WaitConnected(ctx); err == nil {
		connect := []byte{0x0C, 0x04, 0x04, 0x01, 0x00, 0x3C, 'p', 'u', 'b', '-', '1', '2'}
		if _, err := c.WriteTo(connect, transport.XBeeAddr(gw)); err != nil {
			fmt.Println(err)
		}
		buf := make([]byte, 256)
		if n, from, err := c.ReadFrom(buf); err == nil { // CONNACK, from the gateway
			fmt.Printf("% x from %v\n", buf[:n], from)
		}
	}
	cancel() // closes c: ReadFrom returns net.ErrClosed, Run returns
	if err := g.Wait(); err != nil {
		fmt.Println(err)
	}
}
