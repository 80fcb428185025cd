package paho

import (
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// unsubscribes counts mosquitto's log lines of an UNSUBSCRIBE of filter
// by client ("HH:MM:SS: client filter"; a SUBSCRIBE line has the QoS
// between them).
func unsubscribes(logs, client, filter string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.HasSuffix(l, ": "+client+" "+filter) {
			n++
		}
	}
	return n
}

func TestAggregatingRefcount(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), Mode: Aggregating})
	a := upstreamtest.Open(t, u, info("a", true))
	b := upstreamtest.Open(t, u, info("b", true))
	a.MustSubscribe("shared/#", 1)
	b.MustSubscribe("shared/#", 1)
	b.MustSubscribe("b/only", 0)

	// Fan-out: both get it, once each.
	bridgetest.Publish(t, m.URL(), "shared/x", []byte("both"), 1, false)
	for _, s := range []*upstreamtest.Session{a, b} {
		if got := s.Recv(timeout); string(got.Payload) != "both" || got.QoS != 1 {
			t.Errorf("fan-out: got %+v", got)
		}
	}
	// One leaves; the other still receives and nobody gets duplicates.
	a.Close(true)
	bridgetest.Publish(t, m.URL(), "shared/x", []byte("b only"), 1, false)
	bridgetest.Publish(t, m.URL(), "b/only", []byte("marker"), 0, false)
	for _, want := range []string{"b only", "marker"} {
		if got := b.Recv(timeout); string(got.Payload) != want {
			t.Fatalf("after a left: got %+v, want %q", got, want)
		}
	}
	// The last one out unsubscribes upstream.
	b.Unsubscribe("shared/#")
	b.Unsubscribe("b/only")
	probe := upstreamtest.Open(t, u, info("probe", true))
	probe.MustSubscribe("probe", 0) // orders after the UNSUBSCRIBEs on the shared connection
	// mosquitto's log reaches us through a pipe, maybe after the SUBACK.
	waitLog(t, m, "snb-snbridge-aggregator shared/#\n")
	waitLog(t, m, "snb-snbridge-aggregator b/only\n")
	logs := m.Logs()
	for _, f := range []string{"shared/#", "b/only"} {
		if n := unsubscribes(logs, "snb-snbridge-aggregator", f); n != 1 {
			t.Errorf("broker log: %d UNSUBSCRIBEs of %s, want 1:\n%s", n, f, logs)
		}
	}
}

func TestAggregatingQoS(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), Mode: Aggregating})
	low := upstreamtest.Open(t, u, info("low", true))
	high := upstreamtest.Open(t, u, info("high", true))
	low.MustSubscribe("q", 0)
	high.MustSubscribe("q", 2) // upgrades the upstream subscription
	bridgetest.Publish(t, m.URL(), "q", []byte("x"), 2, false)
	if got := low.Recv(timeout); got.QoS != 0 {
		t.Errorf("low: qos %d, want 0", got.QoS)
	}
	if got := high.Recv(timeout); got.QoS != 2 {
		t.Errorf("high: qos %d, want 2", got.QoS)
	}
}

func TestAggregatingOverlap(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), Mode: Aggregating})
	s := upstreamtest.Open(t, u, info("overlap", true))
	s.MustSubscribe("o/#", 0)
	s.MustSubscribe("o/+", 1)
	s.MustSubscribe("marker", 0)
	bridgetest.Publish(t, m.URL(), "o/x", []byte("once"), 1, false)
	bridgetest.Publish(t, m.URL(), "marker", nil, 0, false)
	if got := s.Recv(timeout); string(got.Payload) != "once" || got.QoS != 1 {
		t.Fatalf("got %+v, want once at the higher QoS", got)
	}
	if got := s.Recv(timeout); got.Topic != "marker" {
		t.Fatalf("got %+v, want the marker (no duplicate)", got)
	}
}

func TestAggregatingRetained(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	u := newUpstream(t, Config{URL: m.URL(), Mode: Aggregating})
	bridgetest.Publish(t, m.URL(), "state", []byte("on"), 1, true)
	first := upstreamtest.Open(t, u, info("first", true))
	first.MustSubscribe("state", 1)
	first.MustSubscribe("marker", 0)
	if got := first.Recv(timeout); !got.Retain || string(got.Payload) != "on" {
		t.Fatalf("first: got %+v, want the retained message", got)
	}
	// A second subscriber of the same filter gets the retained message
	// too; the first does not get it again.
	second := upstreamtest.Open(t, u, info("second", true))
	second.MustSubscribe("state", 1)
	if got := second.Recv(timeout); !got.Retain || string(got.Payload) != "on" {
		t.Fatalf("second: got %+v, want the retained message", got)
	}
	bridgetest.Publish(t, m.URL(), "marker", nil, 0, false)
	if got := first.Recv(timeout); got.Topic != "marker" {
		t.Fatalf("first: got %+v, want only the marker", got)
	}
}

func TestAggregatingOpenWaits(t *testing.T) {
	m := bridgetest.StartMosquitto(t)
	m.Stop()
	u := newUpstream(t, Config{URL: m.URL(), Mode: Aggregating, OpenTimeout: time.Minute})
	type result struct {
		s   bridge.Session
		err error
	}
	ch := make(chan result, 1)
	u.Open(info("patient", true), func(bridge.Message) {}, func(s bridge.Session, err error) { ch <- result{s, err} })
	select {
	case r := <-ch:
		t.Fatalf("open completed with the broker down: %v", r.err)
	default:
	}
	m.Start()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("open: %v", r.err)
		}
	case <-time.After(3 * timeout):
		t.Fatal("open did not complete after the broker came up")
	}
}
