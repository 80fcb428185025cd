package failover_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
)

const (
	statusTopic = "$SYS/snbridge/upstream"
	waitLong    = 60 * time.Second
)

// gate is a Health over the real Probe that the test can hold down: the
// failover sees "up" only when the probe is connected and the gate is
// open. Tests close it before restarting mosquitto and open it once their
// upstream subscriber is back, so that no replayed message reaches a
// broker nobody listens on.
type gate struct {
	inner failover.Health

	mu     sync.Mutex
	open   bool
	probe  bool
	report func(bool)
	seen   bool
}

func (g *gate) Run(ctx context.Context, report func(bool)) error {
	g.mu.Lock()
	g.report = report
	g.mu.Unlock()
	return g.inner.Run(ctx, func(up bool) {
		g.mu.Lock()
		g.probe = up
		g.sendLocked()
		g.mu.Unlock()
	})
}

func (g *gate) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.sendLocked()
	g.mu.Unlock()
}

func (g *gate) sendLocked() {
	if g.report != nil {
		g.report(g.open && g.probe)
	}
}

// rigConfig adjusts a rig.
type rigConfig struct {
	spoolPath  string // "" = a new file in t.TempDir()
	maxBytes   int64
	overflow   spool.Policy
	spoolQoS0  bool
	replayRate int
	closedGate bool                  // start with the gate closed
	mq         *bridgetest.Mosquitto // nil: a new one
	mode       paho.Mode
	// statusTopic, when set, is published through a fallback session
	// instead of mochi's server.
	statusTopic string
}

// rig is a failover over a real mosquitto (primary, through bridge/paho),
// the real embedded broker (fallback) and a real spool.
type rig struct {
	t      testing.TB
	mq     *bridgetest.Mosquitto
	broker *embedded.Broker
	sp     *spool.Spool
	f      *failover.Failover
	gate   *gate
	stop   func() // stops the failover and closes the spool; idempotent
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// startBroker runs a real embedded broker with a local listener until the
// test ends.
func startBroker(t testing.TB) *embedded.Broker {
	t.Helper()
	b, err := embedded.New(embedded.Config{Listen: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("embedded Run: %v", err)
		}
	})
	select {
	case <-b.Started():
	case err := <-errc:
		t.Fatalf("embedded Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("embedded broker did not start")
	}
	return b
}

func newRig(t testing.TB, rc rigConfig) *rig {
	t.Helper()
	r := &rig{t: t, mq: rc.mq}
	if r.mq == nil {
		r.mq = bridgetest.StartMosquitto(t)
	}
	r.broker = startBroker(t)
	r.start(rc)
	return r
}

// start opens the spool and runs a new failover on r's brokers.
func (r *rig) start(rc rigConfig) {
	t := r.t
	t.Helper()
	if rc.spoolPath == "" {
		rc.spoolPath = filepath.Join(t.TempDir(), "spool.db")
	}
	if rc.maxBytes == 0 {
		rc.maxBytes = 64 << 20
	}
	log := testLogger(t)
	sp, err := spool.Open(spool.Config{Path: rc.spoolPath, MaxBytes: rc.maxBytes, Overflow: rc.overflow, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	primary, err := paho.New(paho.Config{
		URL:                  r.mq.URL(),
		ClientIDPrefix:       "gw-",
		Mode:                 rc.mode,
		AggregatorClientID:   bridgetest.ClientID("aggregator"),
		ConnectTimeout:       2 * time.Second,
		MaxReconnectInterval: 200 * time.Millisecond,
		CloseTimeout:         time.Second,
		Logger:               log,
	})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := failover.NewProbe(failover.ProbeConfig{
		URL:       r.mq.URL(),
		ClientID:  bridgetest.ClientID("probe"),
		Interval:  100 * time.Millisecond,
		KeepAlive: 2 * time.Second,
		Logger:    log,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.gate = &gate{inner: probe, open: !rc.closedGate}
	var status failover.StatusPublisher = r.broker.Server()
	topic := statusTopic
	if rc.statusTopic != "" {
		status, topic = nil, rc.statusTopic
	}
	f, err := failover.New(failover.Config{
		Primary:       primary,
		Fallback:      r.broker,
		Health:        r.gate,
		Spool:         sp,
		SpoolQoS0:     rc.spoolQoS0,
		ReplayRate:    rc.replayRate,
		StatusTopic:   topic,
		Status:        status,
		OpTimeout:     3 * time.Second,
		RetryInterval: 200 * time.Millisecond,
		RunPrimary:    true,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.sp, r.f = sp, f
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("failover Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("failover Run did not return")
			}
			if err := sp.Close(); err != nil {
				t.Errorf("spool close: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
}

// localURL is the embedded broker's listener.
func (r *rig) localURL() string { return "tcp://" + r.broker.Addr() }

// sink collects the sensors' messages as an MQTT subscriber sees them,
// over several subscriber connections (one per mosquitto start).
type sink struct {
	t       testing.TB
	mu      sync.Mutex
	got     map[string][]int // client -> sequence numbers in arrival order
	n       int
	arrived chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newSink(t testing.TB) *sink {
	s := &sink{t: t, got: make(map[string][]int), arrived: make(chan struct{}, 1), stop: make(chan struct{})}
	t.Cleanup(func() {
		close(s.stop)
		s.wg.Wait()
	})
	return s
}

// attach subscribes a new connection to url and collects what it gets.
func (s *sink) attach(url string, qos byte) {
	ch := bridgetest.Subscribe(s.t, url, "sensors/#", qos)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case m := <-ch:
				s.add(string(m.Payload))
			case <-s.stop:
				return
			}
		}
	}()
}

// flush publishes a marker at url and waits until it arrived: mosquitto
// hands a subscriber its messages in order, so everything it acknowledged
// before has arrived too.
func (s *sink) flush(url string) {
	s.t.Helper()
	s.mu.Lock()
	k := len(s.got["marker"])
	s.mu.Unlock()
	bridgetest.Publish(s.t, url, "sensors/marker", payload("marker", k), 1, false)
	s.waitFor("marker", func(got map[string][]int) bool { return len(got["marker"]) > k })
}

func (s *sink) add(payload string) {
	client, seq, ok := parsePayload(payload)
	if !ok {
		s.t.Errorf("unexpected payload %q", payload)
		return
	}
	s.mu.Lock()
	s.got[client] = append(s.got[client], seq)
	s.n++
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

// waitFor waits until cond (called with the collected messages) holds.
func (s *sink) waitFor(what string, cond func(map[string][]int) bool) {
	s.t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond(s.got)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			s.t.Fatalf("%s: not within %v; got %s", what, waitLong, summary(s.got))
		}
	}
}

func summary(got map[string][]int) string {
	var b strings.Builder
	for c, seqs := range got {
		fmt.Fprintf(&b, "%s: %d messages, distinct %d %v; ", c, len(seqs), len(distinct(seqs)), seqs)
	}
	return b.String()
}

// distinct returns seqs without repeats, first occurrences in order.
func distinct(seqs []int) []int {
	seen := make(map[int]bool, len(seqs))
	var out []int
	for _, s := range seqs {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func payload(client string, seq int) []byte { return []byte(client + "/" + strconv.Itoa(seq)) }

func parsePayload(p string) (string, int, bool) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(p[i+1:])
	return p[:i], n, err == nil
}

func msg(client string, seq int, qos byte) bridge.Message {
	return bridge.Message{Topic: "sensors/" + client, Payload: payload(client, seq), QoS: qos}
}

// statusWatch follows the retained status topic on the embedded broker's
// listener, as a local MQTT client.
type statusWatch struct {
	t  testing.TB
	ch <-chan bridgetest.Message
}

func (r *rig) watchStatus() *statusWatch {
	return &statusWatch{t: r.t, ch: bridgetest.Subscribe(r.t, r.localURL(), statusTopic, 1)}
}

// wait returns once the status topic says want.
func (w *statusWatch) wait(want string) {
	w.t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	var seen []string
	for {
		select {
		case m := <-w.ch:
			if string(m.Payload) == want {
				return
			}
			seen = append(seen, string(m.Payload))
		case <-deadline.C:
			w.t.Fatalf("status %q not published within %v; saw %q", want, waitLong, seen)
		}
	}
}

// waitNot returns once the status topic says something else than state.
func (w *statusWatch) waitNot(state string) {
	w.t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		select {
		case m := <-w.ch:
			if string(m.Payload) != state {
				return
			}
		case <-deadline.C:
			w.t.Fatalf("status still %q after %v", state, waitLong)
		}
	}
}

// waitClosed waits until no primary session of the failover is closing.
func (r *rig) waitClosed() {
	r.t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		n, ch := r.f.Closing()
		if n == 0 {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("%d primary sessions still closing after %v", n, waitLong)
		}
	}
}

// outage takes the primary away: the failover is told first (the gate),
// its primary sessions close while mosquitto still runs, s (if not nil)
// receives what mosquitto queued for it, then mosquitto is killed. So no
// message that mosquitto acknowledged is lost by the kill before it
// reached the test's subscriber (mosquitto keeps nothing across a kill),
// and no paho session reconnects on its own to the restarted broker
// before the subscriber is back. Sensors keep publishing throughout.
func (r *rig) outage(st *statusWatch, s *sink) {
	r.t.Helper()
	r.gate.set(false)
	st.wait(failover.StatusDown)
	r.waitClosed()
	if s != nil {
		s.flush(r.mq.URL())
	}
	r.mq.Stop()
}

// recover restarts mosquitto, attaches s to it and then lets the failover
// see it.
func (r *rig) recover(s *sink, qos byte) {
	r.t.Helper()
	r.mq.Start()
	s.attach(r.mq.URL(), qos)
	r.gate.set(true)
}

// waitPrimary waits until the session of client id is on the primary.
func (r *rig) waitPrimary(id string) {
	r.t.Helper()
	deadline := time.NewTimer(waitLong)
	defer deadline.Stop()
	for {
		ok, ch := r.f.OnPrimary(id)
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("session %s not on the primary after %v", id, waitLong)
		}
	}
}
