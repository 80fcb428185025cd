package bridge_test

import (
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
)

// TestManyTransports: clients on two transports of one gateway share it:
// a publish on one reaches a subscriber on the other and the upstream
// broker, and the reverse.
func TestManyTransports(t *testing.T) {
	var second transport.Conn // a fresh one per gateway: Run closes its transports
	addSecond := func(c *bridge.Config) {
		second = listenUDP(t, "")
		c.Transports = append(c.Transports, second)
	}
	forModes(t, addSecond, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		sub := bridgetest.Subscribe(t, e.url, "mt/#", 1)
		a, aMsgs := snClient(t, e.gw.Addr, client.Config{ClientID: "mt-a", KeepAlive: time.Minute, CleanSession: true})
		b, bMsgs := snClient(t, second.LocalAddr(), client.Config{ClientID: "mt-b", KeepAlive: time.Minute, CleanSession: true})
		must(t, "connect a", a.Connect(ctx))
		must(t, "connect b", b.Connect(ctx))
		_, err := a.Subscribe(ctx, client.FilterName("mt/to-a"), 1)
		must(t, "subscribe a", err)
		_, err = b.Subscribe(ctx, client.FilterName("mt/to-b"), 1)
		must(t, "subscribe b", err)

		for _, tc := range []struct {
			from *client.Client
			to   <-chan client.Message
			name string
		}{{b, aMsgs, "mt/to-a"}, {a, bMsgs, "mt/to-b"}} {
			id, err := tc.from.Register(ctx, tc.name)
			must(t, "register", err)
			must(t, "publish", tc.from.Publish(ctx, client.Registered(id), 1, false, []byte("hello "+tc.name)))
			if m := recvSN(t, tc.to); m.Topic != tc.name || string(m.Payload) != "hello "+tc.name {
				t.Fatalf("got %q %q", m.Topic, m.Payload)
			}
			expectMQTT(t, sub, tc.name, "hello "+tc.name)
		}
	})
}
