package bridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/udp"
)

// waitTimeout bounds every wait of an end-to-end test on an event.
const waitTimeout = 10 * time.Second

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}

// runPart runs a long-lived part (gateway, broker, upstream) until the
// test ends, then cancels it and waits for it.
func runPart(t testing.TB, name string, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("%s: Run did not return after cancel", name)
		}
	})
}

// startEmbedded runs an embedded broker with a local MQTT listener on a
// free loopback port and returns it with the listener's URL.
func startEmbedded(t testing.TB) (*embedded.Broker, string) {
	t.Helper()
	b, err := embedded.New(embedded.Config{Listen: "127.0.0.1:0", Logger: testLogger(t).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatalf("embedded.New: %v", err)
	}
	runPart(t, "embedded broker", b.Run)
	select {
	case <-b.Started():
	case <-time.After(waitTimeout):
		t.Fatal("embedded broker did not start")
	}
	return b, "tcp://" + b.Addr()
}

// listenUDP opens a UDP transport on a free loopback port.
func listenUDP(t testing.TB, broadcast string) *udp.Conn {
	t.Helper()
	c, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0", Broadcast: broadcast})
	if err != nil {
		t.Fatalf("udp.Listen: %v", err)
	}
	return c
}

// testGateway is a running gateway on one UDP transport.
type testGateway struct {
	*bridge.Gateway
	Addr transport.Addr // where clients send
}

// startGateway runs a gateway on a fresh loopback UDP transport in front
// of up; mod, if not nil, may change the config first.
func startGateway(t testing.TB, up bridge.Upstream, mod func(*bridge.Config)) *testGateway {
	t.Helper()
	conn := listenUDP(t, "")
	cfg := bridge.Config{
		Transports: []transport.Conn{conn},
		Upstream:   up,
		GatewayID:  7,
		Logger:     testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := bridge.New(cfg)
	if err != nil {
		t.Fatalf("bridge.New: %v", err)
	}
	runPart(t, "gateway", g.Run)
	return &testGateway{Gateway: g, Addr: conn.LocalAddr()}
}

// snClient opens an MQTT-SN client on its own loopback UDP socket towards
// gw. Messages it receives arrive on the returned channel.
func snClient(t testing.TB, gw transport.Addr, cfg client.Config) (*client.Client, <-chan client.Message) {
	t.Helper()
	cfg.Gateway = gw
	return snClientOn(t, listenUDP(t, ""), cfg)
}

// snClientOn is snClient on a transport of the caller's; cfg.Gateway must
// be set.
func snClientOn(t testing.TB, conn transport.Conn, cfg client.Config) (*client.Client, <-chan client.Message) {
	t.Helper()
	msgs := make(chan client.Message, 1024)
	if cfg.OnMessage == nil {
		cfg.OnMessage = func(m client.Message) {
			select {
			case msgs <- m:
			default:
				t.Errorf("client %s: message channel full", cfg.ClientID)
			}
		}
	}
	c := client.Open(conn, cfg)
	t.Cleanup(func() { _ = c.Close() })
	return c, msgs
}

// ctxT returns a context bounded by waitTimeout.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recvSN waits for the next message of an MQTT-SN client.
func recvSN(t testing.TB, ch <-chan client.Message) client.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message for the MQTT-SN client")
	}
	return client.Message{}
}

// noSN checks that no message arrives for an MQTT-SN client within d.
func noSN(t testing.TB, ch <-chan client.Message, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message for the MQTT-SN client: %+v", m)
	case <-time.After(d):
	}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
