package failover_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
)

// budget lets the sensors publish up to a limit that the test raises
// phase by phase, so a phase's traffic is bounded.
type budget struct {
	mu    sync.Mutex
	limit int
	ch    chan struct{}
}

func newBudget() *budget { return &budget{ch: make(chan struct{})} }

func (b *budget) raise(k int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit += k
	close(b.ch)
	b.ch = make(chan struct{})
}

// wait returns true once message n may be published, false on stop.
func (b *budget) wait(n int, stop <-chan struct{}) bool {
	for {
		b.mu.Lock()
		ok, ch := n < b.limit, b.ch
		b.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return false
		}
	}
}

// TestFlappingLinkCut: the link to the upstream really breaks, several
// times, with QoS 1 and 2 traffic in flight: a TCP proxy in front of
// mosquitto closes every connection (the failover's primary sessions and
// its probe alike) and refuses new ones, then lets them through again.
// Nothing is staged: the failover learns of each cut through its probe and
// its failed publishes. The subscriber is connected to mosquitto directly,
// so nothing is lost at the broker. Every acknowledged message arrives,
// first arrivals in order per sensor; QoS 1 at least once. A QoS 2
// message arrives again only if it was the one its sensor had in flight
// (directly or replayed) at a cut, so a sensor gets at most one duplicate
// per cut: a message whose PUBREL reached the broker just before the cut
// fails on the clean session and is replayed (a cut during the replay can
// catch the same message again). Exactly once over a lost clean connection is
// not possible in MQTT 3.1.1 (see package paho's doc).
func TestFlappingLinkCut(t *testing.T) {
	for _, mode := range []paho.Mode{paho.Transparent, paho.Aggregating} {
		t.Run(mode.String(), func(t *testing.T) { testFlappingLinkCut(t, mode, true) })
	}
	// CleanSession=false sensors: their primary sessions are persistent
	// (transparent mode: paho reconnects them itself).
	t.Run("transparent-persistent", func(t *testing.T) { testFlappingLinkCut(t, paho.Transparent, false) })
}

func testFlappingLinkCut(t *testing.T, mode paho.Mode, clean bool) {
	mq := bridgetest.StartMosquitto(t)
	px := bridgetest.StartProxy(t, mq.Addr())
	b := startBroker(t)
	log := testLogger(t)
	sp, err := spool.Open(spool.Config{Path: filepath.Join(t.TempDir(), "spool.db"), MaxBytes: 64 << 20, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	primary, err := paho.New(paho.Config{URL: px.URL(), ClientIDPrefix: "gw-", Mode: mode,
		AggregatorClientID: bridgetest.ClientID("agg"), ConnectTimeout: 2 * time.Second,
		MaxReconnectInterval: 200 * time.Millisecond, CloseTimeout: time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := failover.NewProbe(failover.ProbeConfig{URL: px.URL(), ClientID: bridgetest.ClientID("probe"),
		Interval: 100 * time.Millisecond, KeepAlive: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f, err := failover.New(failover.Config{Primary: primary, Fallback: b, Health: probe, Spool: sp,
		StatusTopic: statusTopic, Status: b.Server(), OpTimeout: 3 * time.Second,
		RetryInterval: 200 * time.Millisecond, RunPrimary: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("failover run: %v", err)
		}
		sp.Close()
	}()
	st := &statusWatch{t: t, ch: bridgetest.Subscribe(t, "tcp://"+b.Addr(), statusTopic, 1)}
	st.wait(failover.StatusUp)
	s := newSink(t)
	s.attach(mq.URL(), 2) // directly at mosquitto

	qos := []byte{1, 1, 2, 2}
	var ids []string
	var ss []*upstreamtest.Session
	for i, q := range qos {
		id := fmt.Sprintf("cut%d-q%d", i, q)
		ids = append(ids, id)
		ss = append(ss, upstreamtest.Open(t, f, bridge.ClientInfo{ClientID: id, CleanSession: clean, KeepAlive: time.Minute}))
	}
	bud := newBudget()
	var acked atomic.Int32
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	sent := make([]int, len(ss))
	var wg sync.WaitGroup
	for i, sess := range ss {
		wg.Go(func() {
			for n := 0; bud.wait(n, stop); n++ {
				if err := sess.Publish(msg(ids[i], n, qos[i])); err != nil {
					t.Errorf("%s publish %d: %v", ids[i], n, err)
					return
				}
				sent[i] = n + 1
				acked.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	// more waits until the sensors got k more acknowledgements.
	more := func(k int32) {
		t.Helper()
		target := acked.Load() + k
		deadline := time.After(waitLong)
		for acked.Load() < target {
			select {
			case <-progress:
			case <-deadline:
				t.Fatalf("publishing stalled at %d acknowledgements, want %d", acked.Load(), target)
			}
		}
	}
	const perPhase = 40 // messages per sensor per phase
	const cuts = 5
	for range cuts {
		bud.raise(perPhase)
		more(int32(len(ss) * perPhase / 4)) // publishing, messages in flight
		px.Cut()
		st.wait(failover.StatusDown)
		bud.raise(perPhase)
		more(int32(len(ss) * perPhase / 4)) // spooled during the outage
		px.Restore()
		st.waitNot(failover.StatusDown)
	}
	bud.raise(perPhase)
	more(int32(len(ss) * perPhase / 4))
	close(stop)
	wg.Wait()
	st.wait(failover.StatusUp) // the spool is replayed

	for i, c := range ids {
		s.waitFor(c+" all upstream", inOrder([]string{c}, sent[i]))
	}
	s.flush(mq.URL()) // anything still on its way (duplicates) arrives
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range ids {
		want := make([]int, sent[i])
		for n := range want {
			want[n] = n
		}
		got := s.got[c]
		if d := distinct(got); !slices.Equal(d, want) {
			t.Errorf("%s (qos %d): first arrivals not 0..%d in order: %v", c, qos[i], sent[i]-1, d)
		}
		if dups := len(got) - sent[i]; qos[i] == 2 && dups > cuts {
			t.Errorf("%s (qos 2): %d duplicates in %d cuts, want at most one per cut: %v", c, dups, cuts, got)
		}
		t.Logf("%s qos %d: sent %d, arrived %d", c, qos[i], sent[i], len(got))
	}
	t.Logf("stats %+v spool %+v cuts %d", f.Stats(), sp.Stats(), cuts)
}
