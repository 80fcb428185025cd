package paho

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// paho's reconnect loop sleeps its back-off out (time.Sleep) even
		// after Disconnect; it ends within Config.MaxReconnectInterval.
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreAnyFunction("github.com/eclipse/paho.mqtt.golang.(*client).reconnect"),
	)
}

const timeout = 5 * time.Second

var modes = []Mode{Transparent, Aggregating}

// newUpstream runs an Upstream for url until the test ends.
func newUpstream(t *testing.T, cfg Config) *Upstream {
	t.Helper()
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
	if cfg.MaxReconnectInterval == 0 {
		cfg.MaxReconnectInterval = 200 * time.Millisecond
	}
	if cfg.ClientIDPrefix == "" {
		cfg.ClientIDPrefix = "snb-"
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	upstreamtest.Run(t, u)
	return u
}

func info(id string, clean bool) bridge.ClientInfo {
	return bridge.ClientInfo{ClientID: id, CleanSession: clean, KeepAlive: 30 * time.Second}
}

func forModes(t *testing.T, f func(t *testing.T, mode Mode)) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) { f(t, mode) })
	}
}

func TestPublish(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
		s := upstreamtest.Open(t, u, info("sensor", true))
		ch := bridgetest.Subscribe(t, m.URL(), "site/#", 2)
		for _, qos := range []byte{0, 1, 2} {
			topic := fmt.Sprintf("site/%d", qos)
			s.MustPublish(bridge.Message{Topic: topic, Payload: []byte{qos}, QoS: qos})
			got := bridgetest.Recv(t, ch, timeout)
			if got.Topic != topic || len(got.Payload) != 1 || got.Payload[0] != qos || got.QoS != qos || got.Retained {
				t.Errorf("qos %d: subscriber got %+v", qos, got)
			}
		}
	})
}

func TestPublishOrder(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
		s := upstreamtest.Open(t, u, info("burst", true))
		ch := bridgetest.Subscribe(t, m.URL(), "burst", 1)
		const n = 200
		var dones []<-chan error
		for i := range n {
			dones = append(dones, s.PublishAsync(bridge.Message{Topic: "burst", Payload: []byte{byte(i)}, QoS: byte(i % 2)}))
		}
		for i, d := range dones { // upstreamtest checks the completion order
			select {
			case err := <-d:
				if err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
			case <-time.After(timeout):
				t.Fatalf("publish %d: no completion", i)
			}
		}
		// The broker keeps the order within one QoS, not across QoS levels
		// (mosquitto queues QoS 1 behind its in-flight window while QoS 0
		// passes). [MQTT 3.1.1 §4.6]
		next := [2]int{0, 1}
		for range n {
			got := bridgetest.Recv(t, ch, timeout)
			q := got.QoS
			if int(got.Payload[0]) != next[q] {
				t.Fatalf("qos %d: got message %d, want %d", q, got.Payload[0], next[q])
			}
			next[q] += 2
		}
	})
}

func TestSubscribe(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
		bridgetest.Publish(t, m.URL(), "cmd/retained", []byte("old"), 1, true)
		s := upstreamtest.Open(t, u, info("actuator", true))
		s.MustSubscribe("cmd/#", 1)
		if got := s.Recv(timeout); got.Topic != "cmd/retained" || !got.Retain || string(got.Payload) != "old" || got.QoS != 1 {
			t.Errorf("retained: got %+v", got)
		}
		for _, tt := range []struct{ pub, want byte }{{0, 0}, {1, 1}, {2, 1}} {
			bridgetest.Publish(t, m.URL(), "cmd/led", []byte{tt.pub}, tt.pub, false)
			got := s.Recv(timeout)
			if got.Topic != "cmd/led" || got.Payload[0] != tt.pub || got.QoS != tt.want || got.Retain {
				t.Errorf("published at qos %d: got %+v, want qos %d", tt.pub, got, tt.want)
			}
		}
		s.MustSubscribe("marker", 0)
		s.Unsubscribe("cmd/#")
		bridgetest.Publish(t, m.URL(), "cmd/led", []byte("late"), 1, false)
		bridgetest.Publish(t, m.URL(), "marker", nil, 0, false)
		if got := s.Recv(timeout); got.Topic != "marker" {
			t.Errorf("after unsubscribe: got %+v, want only the marker", got)
		}
	})
}

func TestOpenFails(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		m.Stop()
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode, OpenTimeout: 300 * time.Millisecond, ConnectTimeout: time.Second})
		s, err := upstreamtest.TryOpen(t, u, info("nobody", true))
		if err == nil || s.S != nil {
			t.Fatalf("open with the broker down: %v, want an error", err)
		}
		if mode == Aggregating && !errors.Is(err, ErrUpstreamDown) {
			t.Errorf("aggregating open: %v, want ErrUpstreamDown", err)
		}
	})
}

func TestReconnect(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		for _, clean := range []bool{true, false} {
			t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) { testReconnect(t, mode, clean) })
		}
	})
}

// testReconnect: a QoS 1 publish issued during the outage fails at once
// with ErrConnectionLost, on a clean connection (nobody would send it
// again) and on a persistent session too (paho would report it done when
// it resends it, and a restarted broker may have lost the session). The
// subscription works again, and a publish after the reconnect succeeds.
func testReconnect(t *testing.T, mode Mode, clean bool) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
	s := upstreamtest.Open(t, u, info("survivor", clean))
	s.MustSubscribe("probe", 1)
	m.Stop()
	pending := s.PublishAsync(bridge.Message{Topic: "during/outage", Payload: []byte("x"), QoS: 1})
	select {
	case err := <-pending:
		if !errors.Is(err, ErrConnectionLost) {
			t.Errorf("QoS 1 publish issued during the outage: %v, want ErrConnectionLost", err)
		}
	case <-time.After(timeout):
		t.Fatal("QoS 1 publish issued during the outage did not fail")
	}
	m.Start()
	// The subscription works again once the session has reconnected and
	// resubscribed: probe until a message gets through.
	waitProbe(t, m.URL(), s, "probe")
	if err := s.Publish(bridge.Message{Topic: "after/outage", Payload: []byte("y"), QoS: 1}); err != nil {
		t.Errorf("QoS 1 publish after the reconnect: %v", err)
	}
}

// waitProbe publishes to topic every 50 ms until s receives it.
func waitProbe(t *testing.T, url string, s *upstreamtest.Session, topic string) {
	t.Helper()
	c := bridgetest.Connect(t, url, nil)
	deadline := time.After(3 * timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c.Publish(topic, 1, false, []byte("probe"))
		select {
		case got := <-s.Msgs:
			if got.Topic == topic {
				return
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no probe on %q arrived after the broker restart", topic)
		}
	}
}

// TestPersistentSession: without discard, a CleanSession=false session
// keeps its subscriptions and the QoS 1 messages published meanwhile for
// the next Open (the broker in transparent mode, the adapter in
// aggregating mode); with discard, it is gone.
func TestPersistentSession(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
		s := upstreamtest.Open(t, u, info("keeper", false))
		s.MustSubscribe("kept/#", 1)
		s.Close(false)
		bridgetest.Publish(t, m.URL(), "kept/1", []byte("while away"), 1, false)

		s = upstreamtest.Open(t, u, info("keeper", false))
		if got := s.Recv(timeout); string(got.Payload) != "while away" {
			t.Fatalf("got %+v, want the message queued while away", got)
		}
		bridgetest.Publish(t, m.URL(), "kept/2", []byte("live"), 1, false)
		if got := s.Recv(timeout); string(got.Payload) != "live" {
			t.Fatalf("got %+v, want the live message (subscription kept)", got)
		}

		// Closing with discard drops the broker session.
		s.Close(true)
		s = upstreamtest.Open(t, u, info("keeper", false))
		s.MustSubscribe("marker", 0)
		bridgetest.Publish(t, m.URL(), "kept/3", []byte("gone"), 1, false)
		bridgetest.Publish(t, m.URL(), "marker", nil, 0, false)
		if got := s.Recv(timeout); got.Topic != "marker" {
			t.Fatalf("after a discarding close: got %+v, want only the marker", got)
		}
	})
}

// TestClientID: a transparent session is an MQTT client at the broker
// with the prefixed ClientId, the clean flag and the keepalive of its
// MQTT-SN client, as mosquitto itself reports them.
func TestClientID(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), ClientIDPrefix: "gw1-"})
	for _, tc := range []struct {
		info bridge.ClientInfo
		want string
	}{
		// mosquitto logs "New client connected from ... as gw1-dev42 (p2, c1, k60)".
		{bridge.ClientInfo{ClientID: "dev42", CleanSession: true, KeepAlive: 0}, "as gw1-dev42 (p2, c1, k60)"},
		{bridge.ClientInfo{ClientID: "dev90", CleanSession: false, KeepAlive: 90 * time.Second}, "as gw1-dev90 (p2, c0, k90)"},
	} {
		s := upstreamtest.Open(t, u, tc.info)
		s.MustSubscribe("x", 0)
		waitLog(t, m, tc.want)
	}
}

// waitLog waits until mosquitto's log contains want: it reaches the test
// through a pipe, a little after the broker acted.
func waitLog(t *testing.T, m *bridgetest.Mosquitto, want string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(m.Logs(), want) {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("broker log lacks %q:\n%s", want, m.Logs())
		}
	}
}

func TestKeepAlive(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{0, 60 * time.Second},
		{time.Second, 10 * time.Second},
		{90 * time.Second, 90 * time.Second},
		{time.Hour, 300 * time.Second},
	} {
		if got := keepAlive(tt.in); got != tt.want {
			t.Errorf("keepAlive(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{}, "want scheme://host:port"},
		{"no port", Config{URL: "tcp://broker"}, "want scheme://host:port"},
		{"scheme", Config{URL: "ws://broker:80"}, "unsupported scheme"},
		{"tls files on tcp", Config{URL: "tcp://b:1883", CAFile: "ca.pem"}, "need a tls:// url"},
		{"missing ca", Config{URL: "tls://b:8883", CAFile: "/nonexistent/ca.pem"}, "ca file"},
		{"cert without key", Config{URL: "tls://b:8883", CertFile: "c.pem"}, "go together"},
		{"mode", Config{URL: "tcp://b:1883", Mode: 7}, "unknown mode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"tcp://b:1", "mqtt://b:1", "tls://b:1", "ssl://b:1", "mqtts://b:1"} {
		if _, err := New(Config{URL: ok}); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
	if _, err := ParseMode("aggregating"); err != nil {
		t.Error(err)
	}
	if _, err := ParseMode("bogus"); err == nil {
		t.Error("ParseMode(bogus) succeeded")
	}
}

func TestCloseDuringOutage(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), CloseTimeout: 200 * time.Millisecond})
	s := upstreamtest.Open(t, u, info("leaver", false))
	m.Stop()
	pending := s.PublishAsync(bridge.Message{Topic: "stuck", Payload: []byte("x"), QoS: 1})
	s.Close(false) // returns once the grace period is over
	select {
	case err := <-pending:
		// It fails with the lost connection, or when Close's grace is over.
		if !errors.Is(err, ErrSessionClosed) && !errors.Is(err, ErrConnectionLost) {
			t.Errorf("publish outstanding at Close: %v, want ErrConnectionLost or ErrSessionClosed", err)
		}
	default:
		t.Error("publish outstanding at Close was not completed before Close's completion")
	}
	if err := s.Publish(bridge.Message{Topic: "after"}); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("publish after Close: %v, want ErrSessionClosed", err)
	}
}

func TestRunStopsWithPendingWork(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
		s := upstreamtest.Open(t, u, info("busy", true))
		m.Stop()
		// Left outstanding: the cleanup of newUpstream checks that Run
		// returns promptly, and upstreamtest that the completion comes
		// exactly once.
		_ = s.PublishAsync(bridge.Message{Topic: "stuck", Payload: []byte("x"), QoS: 1})
	})
}
