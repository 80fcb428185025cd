package embedded

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/boltfile/boltfiletest"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// runStopped runs a broker with a store until stop is called (or the
// test ends) and returns its URL.
func runStopped(t *testing.T, path string) (b *Broker, url string, stop func()) {
	t.Helper()
	b, err := New(Config{Listen: "127.0.0.1:0", StorePath: path, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-b.Started():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(timeout):
		t.Fatal("broker did not start")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return b, "tcp://" + b.Addr(), stop
}

// TestStoreSurvivesRestart: retained messages (published by a session
// of the gateway and by a local MQTT client) and a local client's
// persistent session come back after a restart from the same file.
func TestStoreSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.db")
	b, url, stop := runStopped(t, path)
	s := upstreamtest.Open(t, b, info("sensor", true))
	s.MustPublish(bridge.Message{Topic: "site/temp", Payload: []byte("21.5"), QoS: 1, Retain: true})
	bridgetest.Publish(t, url, "site/door", []byte("open"), 1, true)
	local := bridgetest.Connect(t, url, func(o *mqtt.ClientOptions) {
		o.SetClientID("local-persistent").SetCleanSession(false)
	})
	bridgetest.SubscribeClient(t, local, "cmd/#", 1)
	local.Disconnect(100)
	stop()

	b, url, _ = runStopped(t, path)
	s = upstreamtest.Open(t, b, info("reader", true))
	s.MustSubscribe("site/#", 1)
	got := map[string]string{}
	for range 2 {
		m := s.Recv(timeout)
		if !m.Retain {
			t.Errorf("not retained: %+v", m)
		}
		got[m.Topic] = string(m.Payload)
	}
	if got["site/temp"] != "21.5" || got["site/door"] != "open" {
		t.Fatalf("retained after restart: %v", got)
	}
	// The local client's persistent session kept its subscription: a
	// message published while it is away is waiting when it returns.
	bridgetest.Publish(t, url, "cmd/led", []byte("on"), 1, false)
	ch := make(chan bridgetest.Message, 1)
	bridgetest.Connect(t, url, func(o *mqtt.ClientOptions) {
		o.SetClientID("local-persistent").SetCleanSession(false)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			ch <- bridgetest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)}
		})
	})
	if m := bridgetest.Recv(t, ch, timeout); m.Topic != "cmd/led" || string(m.Payload) != "on" {
		t.Fatalf("persistent local client got %+v", m)
	}
}

func TestStoreOpenErrors(t *testing.T) {
	bad := boltfiletest.MakeBad(t, storeFormat, "snbridge-broker/0")
	for _, tt := range []struct {
		name, path string
		want       []string
	}{
		{"garbage", bad.Damaged, []string{bad.Damaged, "damaged or not a broker store", "move it away"}},
		{"other format tag", bad.OtherTag, []string{bad.OtherTag, `"snbridge-broker/0"`, StoreFormat, "run the snbridge version that wrote it", "move the file away"}},
		{"another program's file", bad.Foreign, []string{bad.Foreign, "no format tag", "move the file away"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{StorePath: tt.path})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
