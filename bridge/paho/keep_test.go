package paho

import (
	"errors"
	"fmt"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// kept is what the aggregator holds for a client id.
type kept struct {
	Exists     bool
	Persistent bool
	Attached   bool
	Filters    []string
	Pending    int
}

func keptState(u *Upstream, id string) kept {
	a := u.agg
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clients[id]
	if c == nil {
		return kept{}
	}
	k := kept{Exists: true, Persistent: c.persistent}
	for f := range c.subs {
		if a.filters[f] == nil || a.filters[f].refs[c] == (aref{}) {
			continue // not really referenced: reported as missing
		}
		k.Filters = append(k.Filters, f)
	}
	c.dmu.Lock()
	k.Attached, k.Pending = c.h != nil, c.pending.len()
	c.dmu.Unlock()
	return k
}

// upstreamFilters returns the filters the shared connection is subscribed
// to.
func upstreamFilters(u *Upstream) map[string]int {
	a := u.agg
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int)
	for f, af := range a.filters {
		out[f] = len(af.refs)
	}
	return out
}

// keepEnv is an aggregating upstream over mosquitto, a publisher
// connection (one, so the broker keeps its order per QoS) and a watcher
// session that tells when the shared connection has seen everything
// published so far.
type keepEnv struct {
	m     *bridgetest.Mosquitto
	u     *Upstream
	pub   mqtt.Client
	watch *upstreamtest.Session
	n     int
}

func newKeepEnv(t *testing.T, cfg Config) *keepEnv {
	t.Helper()
	e := &keepEnv{m: bridgetest.StartMosquitto(t)}
	cfg.URL, cfg.Mode = e.m.URL(), Aggregating
	e.u = newUpstream(t, cfg)
	e.pub = bridgetest.Connect(t, e.m.URL(), nil)
	e.watch = upstreamtest.Open(t, e.u, info("watch", true))
	e.watch.MustSubscribe("watch/#", 1)
	return e
}

func (e *keepEnv) publish(t *testing.T, topic, payload string, qos byte) {
	t.Helper()
	bridgetest.PublishClient(t, e.pub, topic, []byte(payload), qos, false)
}

// flush returns once paho's router has handed on every message published
// before: a marker at each QoS (the broker keeps the order per QoS only)
// comes after them on the shared connection.
func (e *keepEnv) flush(t *testing.T) {
	t.Helper()
	e.n++
	want := map[string]bool{}
	for _, qos := range []byte{0, 1} {
		p := fmt.Sprintf("%d-%d", e.n, qos)
		want[p] = true
		e.publish(t, "watch/marker", p, qos)
	}
	for len(want) > 0 {
		got := e.watch.Recv(timeout)
		delete(want, string(got.Payload))
	}
}

// recvPayloads receives len(want) messages and compares their payloads
// and QoS.
func recvPayloads(t *testing.T, s *upstreamtest.Session, qos byte, want ...string) {
	t.Helper()
	var got []string
	for range want {
		m := s.Recv(timeout)
		if m.QoS != qos {
			t.Errorf("message %q: qos %d, want %d", m.Payload, m.QoS, qos)
		}
		got = append(got, string(m.Payload))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("delivered payloads (-want +got):\n%s", d)
	}
}

// noMessage checks that s gets nothing more, up to a marker published on
// topic now (s must be subscribed to topic).
func (e *keepEnv) noMessage(t *testing.T, s *upstreamtest.Session, topic string) {
	t.Helper()
	e.publish(t, topic, "end", 1)
	if got := s.Recv(timeout); string(got.Payload) != "end" {
		t.Fatalf("got %q on %q, want nothing before the end marker", got.Payload, got.Topic)
	}
}

// TestAggregatingPersistent: a CleanSession=false session closed without
// discard keeps its subscriptions and its QoS 1 and 2 messages (not QoS
// 0), which the next Open gets in order before live ones.
func TestAggregatingPersistent(t *testing.T) {
	e := newKeepEnv(t, Config{})
	s := upstreamtest.Open(t, e.u, info("p", false))
	s.MustSubscribe("p/#", 1)
	s.Close(false)
	if got, want := keptState(e.u, "p"), (kept{Exists: true, Persistent: true, Filters: []string{"p/#"}}); !cmp.Equal(got, want) {
		t.Fatalf("after Close(false): %+v, want %+v", got, want)
	}

	e.publish(t, "p/a", "1", 1)
	e.publish(t, "p/b", "2", 2) // granted 1
	e.publish(t, "p/zero", "zero", 0)
	e.publish(t, "p/a", "3", 1)
	e.flush(t)
	if got := keptState(e.u, "p").Pending; got != 3 {
		t.Fatalf("%d messages kept, want the 3 QoS 1 and 2 ones", got)
	}

	s = upstreamtest.Open(t, e.u, info("p", false))
	recvPayloads(t, s, 1, "1", "2", "3")
	e.noMessage(t, s, "p/live") // the QoS 0 one was not kept; the subscription was
	if got := keptState(e.u, "p"); !got.Attached || got.Pending != 0 {
		t.Errorf("after resume: %+v, want attached with nothing kept", got)
	}
	if n := e.u.Dropped(); n != 0 {
		t.Errorf("Dropped() = %d, want 0", n)
	}
	// No UNSUBSCRIBE went upstream for the kept session.
	e.flush(t)
	if n := unsubscribes(e.m.Logs(), "snb-snbridge-aggregator", "p/#"); n != 0 {
		t.Errorf("broker log: %d UNSUBSCRIBEs of p/#, want 0", n)
	}
}

// TestAggregatingPersistentOverflow: beyond Config.MaxPending the oldest
// kept message is dropped and counted.
func TestAggregatingPersistentOverflow(t *testing.T) {
	e := newKeepEnv(t, Config{MaxPending: 3})
	s := upstreamtest.Open(t, e.u, info("o", false))
	s.MustSubscribe("o", 2)
	s.Close(false)
	for i := range 5 {
		e.publish(t, "o", fmt.Sprint(i), 1+byte(i%2))
	}
	e.flush(t)
	if n := e.u.Dropped(); n != 2 {
		t.Errorf("Dropped() = %d, want 2", n)
	}
	s = upstreamtest.Open(t, e.u, info("o", false))
	for i, want := range []byte{2, 3, 4} {
		m := s.Recv(timeout)
		if string(m.Payload) != fmt.Sprint(want) || m.QoS != 1+want%2 {
			t.Fatalf("kept message %d: %q at qos %d, want %d at qos %d", i, m.Payload, m.QoS, want, 1+want%2)
		}
	}
	e.noMessage(t, s, "o")
}

// TestAggregatingPersistentDiscard: Close(true) and an Open with
// CleanSession=true discard a kept session: its subscriptions (upstream
// too, when nobody else has them) and its kept messages.
func TestAggregatingPersistentDiscard(t *testing.T) {
	for _, how := range []string{"close discard", "clean open"} {
		t.Run(how, func(t *testing.T) {
			e := newKeepEnv(t, Config{})
			s := upstreamtest.Open(t, e.u, info("d", false))
			s.MustSubscribe("d/#", 1)
			s.Close(false)
			e.publish(t, "d/x", "while away", 1)
			e.flush(t)
			if got := keptState(e.u, "d").Pending; got != 1 {
				t.Fatalf("%d messages kept, want 1", got)
			}
			switch how {
			case "close discard":
				s = upstreamtest.Open(t, e.u, info("d", false))
				recvPayloads(t, s, 1, "while away")
				s.Close(true)
				if got := keptState(e.u, "d"); got.Exists {
					t.Fatalf("after Close(true): %+v kept, want nothing", got)
				}
				e.publish(t, "d/x", "after discard", 1)
				e.flush(t)
				s = upstreamtest.Open(t, e.u, info("d", false))
			case "clean open":
				s = upstreamtest.Open(t, e.u, info("d", true))
				if got, want := keptState(e.u, "d"), (kept{Exists: true, Attached: true}); !cmp.Equal(got, want) {
					t.Fatalf("after a clean Open: %+v, want %+v", got, want)
				}
			}
			if _, ok := upstreamFilters(e.u)["d/#"]; ok {
				t.Error("d/# still subscribed upstream after the discard")
			}
			s.MustSubscribe("d/end", 1)
			e.noMessage(t, s, "d/end")
			waitLog(t, e.m, "snb-snbridge-aggregator d/#\n")
			if n := unsubscribes(e.m.Logs(), "snb-snbridge-aggregator", "d/#"); n != 1 {
				t.Errorf("broker log: %d UNSUBSCRIBEs of d/#, want 1", n)
			}
			s.Close(true)
			if got := keptState(e.u, "d"); got.Exists {
				t.Errorf("after Close(true): %+v kept, want nothing", got)
			}
		})
	}
}

// TestAggregatingPersistentShared: the shared upstream subscription stays
// while an open or a kept session has the filter, and goes with the last.
func TestAggregatingPersistentShared(t *testing.T) {
	e := newKeepEnv(t, Config{})
	keeper := upstreamtest.Open(t, e.u, info("keeper", false))
	other := upstreamtest.Open(t, e.u, info("other", true))
	keeper.MustSubscribe("s/#", 1)
	other.MustSubscribe("s/#", 1)
	other.MustSubscribe("s/end", 1)

	keeper.Close(false)
	e.publish(t, "s/1", "one", 1)
	recvPayloads(t, other, 1, "one")
	other.Close(true) // the kept session still needs s/#
	if got := upstreamFilters(e.u); !cmp.Equal(got, map[string]int{"s/#": 1, "watch/#": 1}) {
		t.Fatalf("upstream filters %v after the open session left, want s/# kept for the kept one", got)
	}
	e.publish(t, "s/2", "two", 1)
	e.flush(t)

	keeper = upstreamtest.Open(t, e.u, info("keeper", false))
	recvPayloads(t, keeper, 1, "one", "two")
	keeper.Close(true)
	e.flush(t) // the UNSUBSCRIBE was sent before the markers
	if got := upstreamFilters(e.u); !cmp.Equal(got, map[string]int{"watch/#": 1}) {
		t.Errorf("upstream filters %v, want only the watcher's", got)
	}
	// mosquitto's log reaches us through a pipe, after the markers.
	waitLog(t, e.m, "snb-snbridge-aggregator s/#\n")
	waitLog(t, e.m, "snb-snbridge-aggregator s/end\n")
	logs := e.m.Logs()
	if n := unsubscribes(logs, "snb-snbridge-aggregator", "s/#"); n != 1 {
		t.Errorf("broker log: %d UNSUBSCRIBEs of s/#, want 1:\n%s", n, logs)
	}
	if n := unsubscribes(logs, "snb-snbridge-aggregator", "s/end"); n != 1 {
		t.Errorf("broker log: %d UNSUBSCRIBEs of s/end, want 1:\n%s", n, logs)
	}
}

// TestAggregatingTakeover: an Open of a client id whose handle is still
// open takes the session over; the old handle is closed and its Close
// changes nothing.
func TestAggregatingTakeover(t *testing.T) {
	e := newKeepEnv(t, Config{})
	old := upstreamtest.Open(t, e.u, info("t", false))
	old.MustSubscribe("t", 1)
	s := upstreamtest.Open(t, e.u, info("t", false))
	e.publish(t, "t", "to the new one", 1)
	recvPayloads(t, s, 1, "to the new one")
	if err := old.Publish(bridge.Message{Topic: "x"}); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("publish on the taken-over handle: %v, want ErrSessionClosed", err)
	}
	old.Close(true)
	e.publish(t, "t", "still here", 1)
	recvPayloads(t, s, 1, "still here")
	select {
	case m := <-old.Msgs:
		t.Errorf("taken-over handle got %q", m.Payload)
	default:
	}
	s.Close(true)
	if got := keptState(e.u, "t"); got.Exists {
		t.Errorf("after Close(true): %+v kept, want nothing", got)
	}
}

// TestAggregatingNotPersistent: a CleanSession=true session keeps nothing
// on Close(false).
func TestAggregatingNotPersistent(t *testing.T) {
	e := newKeepEnv(t, Config{})
	s := upstreamtest.Open(t, e.u, info("c", true))
	s.MustSubscribe("c", 1)
	s.Close(false)
	if got := keptState(e.u, "c"); got.Exists {
		t.Fatalf("after Close(false) of a clean session: %+v kept, want nothing", got)
	}
	if _, ok := upstreamFilters(e.u)["c"]; ok {
		t.Error("c still subscribed upstream")
	}
}

func TestRing(t *testing.T) {
	msg := func(i int) bridge.Message { return bridge.Message{Topic: fmt.Sprint(i)} }
	for _, tt := range []struct {
		name         string
		limit, n     int
		takeAfter    int // take once after this many pushes (0: never)
		wantDropped  int
		wantFinalLen int
	}{
		{"under", 10, 5, 0, 0, 5},
		{"exactly", 8, 8, 0, 0, 8},
		{"over small", 3, 10, 0, 7, 3},
		{"over grown", 20, 50, 0, 30, 20},
		{"take midway", 5, 12, 4, 3, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r ring
			dropped, first := 0, 0
			for i := range tt.n {
				if tt.takeAfter > 0 && i == tt.takeAfter {
					got := r.take()
					for j, m := range got {
						if m.Topic != fmt.Sprint(j) {
							t.Fatalf("take: message %d is %s", j, m.Topic)
						}
					}
					first = i
				}
				if r.push(msg(i), tt.limit) {
					dropped++
				}
				if len(r.buf) > tt.limit {
					t.Fatalf("buffer of %d beyond the limit %d", len(r.buf), tt.limit)
				}
			}
			if dropped != tt.wantDropped {
				t.Errorf("dropped %d, want %d", dropped, tt.wantDropped)
			}
			if r.len() != tt.wantFinalLen {
				t.Errorf("len %d, want %d", r.len(), tt.wantFinalLen)
			}
			got := r.take()
			first = max(first, tt.n-tt.wantFinalLen)
			for j, m := range got {
				if m.Topic != fmt.Sprint(first+j) {
					t.Fatalf("message %d is %s, want %d", j, m.Topic, first+j)
				}
			}
			if r.len() != 0 || r.buf != nil {
				t.Errorf("after take: len %d, buffer %d, want empty and freed", r.len(), len(r.buf))
			}
		})
	}
}
