package embedded

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 5 * time.Second

// start runs a broker with a TCP listener on a free loopback port until
// the test ends and returns it with its MQTT URL.
func start(t *testing.T, cfg Config) (*Broker, string) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	upstreamtest.Run(t, b)
	select {
	case <-b.Started():
	case <-time.After(timeout):
		t.Fatal("broker did not start")
	}
	return b, "tcp://" + b.Addr()
}

func info(id string, clean bool) bridge.ClientInfo {
	return bridge.ClientInfo{ClientID: id, CleanSession: clean, KeepAlive: time.Minute}
}

func TestSNToMQTT(t *testing.T) {
	b, url := start(t, Config{})
	s := upstreamtest.Open(t, b, info("sensor", true))
	for _, qos := range []byte{0, 1, 2} {
		ch := bridgetest.Subscribe(t, url, "site/+/temp", qos)
		topic := fmt.Sprintf("site/%d/temp", qos)
		s.MustPublish(bridge.Message{Topic: topic, Payload: []byte("21.5"), QoS: qos})
		got := bridgetest.Recv(t, ch, timeout)
		if got.Topic != topic || string(got.Payload) != "21.5" || got.QoS != qos || got.Retained {
			t.Errorf("qos %d: MQTT client got %+v", qos, got)
		}
	}
}

func TestMQTTToSN(t *testing.T) {
	b, url := start(t, Config{})
	s := upstreamtest.Open(t, b, info("sensor", true))
	s.MustSubscribe("cmd/#", 1)
	c := bridgetest.Connect(t, url, nil)
	for _, tt := range []struct {
		pubQoS, want byte
	}{{0, 0}, {1, 1}, {2, 1}} { // capped at the granted QoS
		bridgetest.PublishClient(t, c, "cmd/led", []byte{tt.pubQoS}, tt.pubQoS, false)
		got := s.Recv(timeout)
		want := bridge.Message{Topic: "cmd/led", Payload: []byte{tt.pubQoS}, QoS: tt.want}
		if got.Topic != want.Topic || string(got.Payload) != string(want.Payload) || got.QoS != want.QoS || got.Retain {
			t.Errorf("published at qos %d: session got %+v, want %+v", tt.pubQoS, got, want)
		}
	}
}

func TestRetained(t *testing.T) {
	b, url := start(t, Config{})
	// Retained from a local MQTT client and from an SN session.
	bridgetest.Publish(t, url, "r/mqtt", []byte("m"), 1, true)
	pub := upstreamtest.Open(t, b, info("pub", true))
	pub.MustPublish(bridge.Message{Topic: "r/sn", Payload: []byte("s"), QoS: 1, Retain: true})

	s := upstreamtest.Open(t, b, info("sub", true))
	s.MustSubscribe("r/#", 2)
	got := map[string]bridge.Message{}
	for range 2 {
		m := s.Recv(timeout)
		got[m.Topic] = m
	}
	for topic, payload := range map[string]string{"r/mqtt": "m", "r/sn": "s"} {
		if m := got[topic]; !m.Retain || string(m.Payload) != payload || m.QoS != 1 {
			t.Errorf("%s: got %+v, want retained %q at qos 1", topic, m, payload)
		}
	}
	// A live message on the same topic carries no retain flag, even when
	// published retained. [MQTT 3.1.1 §3.3.1.3]
	pub.MustPublish(bridge.Message{Topic: "r/sn", Payload: []byte("live"), QoS: 1, Retain: true})
	if m := s.Recv(timeout); m.Retain || string(m.Payload) != "live" {
		t.Errorf("live message: got %+v, want not retained", m)
	}
	// And the MQTT side sees the SN session's retained message too.
	if m := bridgetest.Recv(t, bridgetest.Subscribe(t, url, "r/sn", 0), timeout); !m.Retained || string(m.Payload) != "live" {
		t.Errorf("MQTT subscriber: got %+v", m)
	}
}

func TestUnsubscribe(t *testing.T) {
	b, _ := start(t, Config{})
	s := upstreamtest.Open(t, b, info("sub", true))
	pub := upstreamtest.Open(t, b, info("pub", true))
	s.MustSubscribe("a", 0)
	s.MustSubscribe("b", 0)
	s.Unsubscribe("a")
	s.Unsubscribe("never-subscribed")
	pub.MustPublish(bridge.Message{Topic: "a", Payload: []byte("1")})
	pub.MustPublish(bridge.Message{Topic: "b", Payload: []byte("2")})
	// Deliveries are in order: "b" first means "a" was not delivered.
	if m := s.Recv(timeout); m.Topic != "b" {
		t.Errorf("got %+v, want the message on b", m)
	}
}

func TestPersistentSession(t *testing.T) {
	b, url := start(t, Config{})
	s := upstreamtest.Open(t, b, info("p", false))
	s.MustSubscribe("p/#", 1)
	s.Close(false)

	// One publisher: messages from different connections have no order.
	c := bridgetest.Connect(t, url, nil)
	bridgetest.PublishClient(t, c, "p/1", []byte("q1"), 1, false)
	bridgetest.PublishClient(t, c, "p/0", []byte("q0"), 0, false) // QoS 0 is not kept
	bridgetest.PublishClient(t, c, "p/2", []byte("q2"), 1, false)

	s = upstreamtest.Open(t, b, info("p", false))
	for _, want := range []string{"q1", "q2"} {
		if m := s.Recv(timeout); string(m.Payload) != want {
			t.Fatalf("got %+v, want %q", m, want)
		}
	}
	// The subscription survived.
	bridgetest.Publish(t, url, "p/3", []byte("q3"), 1, false)
	if m := s.Recv(timeout); string(m.Payload) != "q3" {
		t.Fatalf("got %+v, want q3", m)
	}

	// Discarding close, or a clean Open, ends it.
	s.Close(true)
	s = upstreamtest.Open(t, b, info("p", false))
	s.MustSubscribe("marker", 0)
	bridgetest.Publish(t, url, "p/4", []byte("q4"), 1, false)
	bridgetest.Publish(t, url, "marker", nil, 0, false)
	if m := s.Recv(timeout); m.Topic != "marker" {
		t.Fatalf("got %+v after discard, want only the marker", m)
	}
}

func TestTakeover(t *testing.T) {
	b, _ := start(t, Config{})
	old := upstreamtest.Open(t, b, info("dup", true))
	_ = upstreamtest.Open(t, b, info("dup", true))
	if err := old.Publish(bridge.Message{Topic: "x"}); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("publish on a taken-over session: %v, want ErrSessionClosed", err)
	}
}

func TestInvalid(t *testing.T) {
	b, _ := start(t, Config{})
	s := upstreamtest.Open(t, b, info("bad", true))
	for _, topic := range []string{"", "a/+", "a/#"} {
		if err := s.Publish(bridge.Message{Topic: topic}); err == nil {
			t.Errorf("publish to %q succeeded", topic)
		}
	}
	for _, f := range []string{"", "a/#/b"} {
		if g, err := s.Subscribe(f, 0); err == nil || g != 0x80 {
			t.Errorf("subscribe %q: granted %#x, err %v; want 0x80 and an error", f, g, err)
		}
	}
	if _, err := s.Subscribe("ok", 3); err == nil {
		t.Error("subscribe at qos 3 succeeded")
	}
}

func TestClosed(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	s := upstreamtest.Open(t, b, info("c", true)) // queued before or after Run starts
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.Publish(bridge.Message{Topic: "x"}); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrSessionClosed) {
		t.Errorf("publish after Run returned: %v", err)
	}
	if _, err := upstreamtest.TryOpen(t, b, info("d", true)); !errors.Is(err, ErrClosed) {
		t.Errorf("open after Run returned: %v, want ErrClosed", err)
	}
	if err := b.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestListenError(t *testing.T) {
	_, url := start(t, Config{})
	b, err := New(Config{Listen: url[len("tcp://"):]}) // taken
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(t.Context()); err == nil {
		t.Fatal("Run on a taken port succeeded")
	}
}

func TestLocalClients(t *testing.T) {
	_, url := start(t, Config{})
	ch := bridgetest.Subscribe(t, url, "local", 1)
	c := bridgetest.Connect(t, url, func(o *mqtt.ClientOptions) { o.SetUsername("anyone") })
	bridgetest.PublishClient(t, c, "local", []byte("hi"), 1, false)
	if m := bridgetest.Recv(t, ch, timeout); string(m.Payload) != "hi" {
		t.Errorf("got %+v", m)
	}
}

func TestDetachedBufferBounded(t *testing.T) {
	b, _ := start(t, Config{MaxPending: 2})
	s := upstreamtest.Open(t, b, info("sleepy", false))
	s.MustSubscribe("d", 1)
	s.Close(false)
	pub := upstreamtest.Open(t, b, info("pub", true))
	for _, p := range []string{"1", "2", "3"} {
		// An inline publish has queued its deliveries when it completes.
		pub.MustPublish(bridge.Message{Topic: "d", Payload: []byte(p), QoS: 1})
	}
	s = upstreamtest.Open(t, b, info("sleepy", false))
	for _, want := range []string{"2", "3"} { // the oldest was dropped
		if m := s.Recv(timeout); string(m.Payload) != want {
			t.Fatalf("got %+v, want %q", m, want)
		}
	}
	if n := b.Dropped(); n != 1 {
		t.Errorf("Dropped() = %d, want 1", n)
	}
}

func TestDeliveryQueueBounded(t *testing.T) {
	b, err := New(Config{MaxQueued: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Before Run nobody empties the queue: publish into it directly.
	c := &client{id: "x", subs: map[string]*sub{}}
	s := &sub{c: c, filter: "q", id: 1}
	s.live.Store(true)
	if err := b.srv.Subscribe("q", s.id, b.handler(s)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.srv.Publish("q", []byte("m"), false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Dropped(); n != 1 {
		t.Errorf("Dropped() = %d, want 1", n)
	}
}
