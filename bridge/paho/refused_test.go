package paho

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// denyHook lets everyone connect and refuses topics under "denied/".
// (mosquitto 2.0 grants an ACL-denied subscription of an MQTT 3.1.1
// client and only withholds the messages, so it cannot show a refusal.)
type denyHook struct{ mochi.HookBase }

func (*denyHook) ID() string { return "deny" }

func (*denyHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (*denyHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (*denyHook) OnACLCheck(_ *mochi.Client, topic string, _ bool) bool {
	return !strings.HasPrefix(topic, "denied/")
}

// startMochi runs a mochi broker with denyHook on a free loopback port.
func startMochi(t *testing.T) string {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(denyHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return "tcp://" + l.Address()
}

func TestSubscribeRefused(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		url := startMochi(t)
		u := newUpstream(t, Config{URL: url, Mode: mode})
		s := upstreamtest.Open(t, u, info("limited", true))
		g, err := s.Subscribe("denied/x", 1)
		if !errors.Is(err, ErrRefused) || g != 0x80 {
			t.Fatalf("subscribe to a denied filter: granted %#x, %v; want 0x80 and ErrRefused", g, err)
		}
		s.MustSubscribe("allowed/x", 1) // the session goes on
		if mode == Aggregating {
			// The refused filter is not kept in the shared table.
			u.agg.mu.Lock()
			_, kept := u.agg.filters["denied/x"]
			u.agg.mu.Unlock()
			if kept {
				t.Error("refused filter kept in the aggregator's table")
			}
		}
	})
}
