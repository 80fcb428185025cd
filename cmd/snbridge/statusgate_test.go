package main

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
)

func retained(t *testing.T, srv *mqtt.Server, topic string) []string {
	t.Helper()
	var out []string
	for _, pk := range srv.Topics.Messages(topic) {
		out = append(out, string(pk.Payload))
	}
	return out
}

// Regression: the failover published its first states while the embedded
// broker was still loading its stored retained messages, which put an
// older status back; the retained status read "down" with the upstream up.
func TestStatusGateHoldsUntilOpen(t *testing.T) {
	const topic = "$SYS/snbridge/upstream"
	srv := mqtt.New(&mqtt.Options{InlineClient: true})
	g := newStatusGate(srv)

	for _, p := range []string{"down", "replaying", "up"} {
		if err := g.Publish(topic, []byte(p), true, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := retained(t, srv, topic); len(got) != 0 {
		t.Fatalf("retained before open = %q, want nothing published yet", got)
	}
	g.open()
	if got := retained(t, srv, topic); len(got) != 1 || got[0] != "up" {
		t.Fatalf("retained after open = %q, want the latest, [up]", got)
	}
	if err := g.Publish(topic, []byte("down"), true, 1); err != nil {
		t.Fatal(err)
	}
	if got := retained(t, srv, topic); len(got) != 1 || got[0] != "down" {
		t.Fatalf("retained after a later publish = %q, want [down]", got)
	}
	g.open() // idempotent
	if got := retained(t, srv, topic); got[0] != "down" {
		t.Fatalf("second open republished: %q", got)
	}
}
