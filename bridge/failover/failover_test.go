package failover_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
	"github.com/snbridge/snbridge/bridge/failover"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/spool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inOrder reports whether every client has all of 0..n-1, first
// occurrences in order.
func inOrder(clients []string, n int) func(map[string][]int) bool {
	return func(got map[string][]int) bool {
		for _, c := range clients {
			d := distinct(got[c])
			if len(d) < n {
				return false
			}
		}
		return true
	}
}

// checkOrder fails the test unless every client's first occurrences are
// exactly 0..n-1 in order.
func checkOrder(t *testing.T, s *sink, clients []string, n int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range clients {
		d := distinct(s.got[c])
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(d, want) {
			t.Errorf("%s: first arrivals not 0..%d in order: %v", c, n-1, d)
		}
	}
}

func openSensors(t *testing.T, f *failover.Failover, n int) ([]string, []*upstreamtest.Session) {
	t.Helper()
	var ids []string
	var ss []*upstreamtest.Session
	for i := range n {
		id := fmt.Sprintf("sensor%d", i)
		ids = append(ids, id)
		ss = append(ss, upstreamtest.Open(t, f, bridge.ClientInfo{ClientID: id, CleanSession: true, KeepAlive: time.Minute}))
	}
	return ids, ss
}

// TestOutageQoS1 publishes 1,000 QoS 1 messages from four sensors while
// mosquitto is killed mid-stream and restarted: every message arrives
// upstream at least once, in order per sensor, and every publish is
// acknowledged.
func TestOutageQoS1(t *testing.T) {
	for _, mode := range []paho.Mode{paho.Transparent, paho.Aggregating} {
		t.Run(mode.String(), func(t *testing.T) { testOutageQoS1(t, mode) })
	}
}

func testOutageQoS1(t *testing.T, mode paho.Mode) {
	r := newRig(t, rigConfig{mode: mode})
	st := r.watchStatus()
	st.wait(failover.StatusUp)
	s := newSink(t)
	s.attach(r.mq.URL(), 1)
	ids, ss := openSensors(t, r.f, 4)
	const per = 250

	var acked atomic.Int32
	stopAt, startAt := int32(200), int32(600)
	stopped, restarted := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for i, sess := range ss {
		wg.Go(func() {
			for n := range per {
				if err := sess.Publish(msg(ids[i], n, 1)); err != nil {
					t.Errorf("%s publish %d: %v", ids[i], n, err)
					return
				}
				switch acked.Add(1) {
				case stopAt:
					close(stopped)
				case startAt:
					close(restarted)
				}
			}
		})
	}
	<-stopped
	r.outage(st, s)
	<-restarted
	r.recover(s, 1)
	wg.Wait()
	s.waitFor("all 1000 upstream", inOrder(ids, per))
	checkOrder(t, s, ids, per)
	st.wait(failover.StatusUp)
	fs := r.f.Stats()
	if fs.Spooled == 0 || fs.Replayed != fs.Spooled {
		t.Errorf("stats %+v: want messages spooled and all replayed", fs)
	}
	if n := r.sp.Stats().Messages; n != 0 {
		t.Errorf("spool holds %d messages after the replay", n)
	}
	t.Logf("stats %+v", fs)
}

// TestOutageQoS2ExactlyOnce stops mosquitto between QoS 2 messages: the
// ones spooled during the outage are replayed, and each arrives once.
func TestOutageQoS2ExactlyOnce(t *testing.T) {
	r := newRig(t, rigConfig{})
	st := r.watchStatus()
	st.wait(failover.StatusUp)
	s := newSink(t)
	s.attach(r.mq.URL(), 2)
	ids, ss := openSensors(t, r.f, 2)
	const part = 50
	publish := func(from int) {
		var wg sync.WaitGroup
		for i, sess := range ss {
			wg.Go(func() {
				for n := from; n < from+part; n++ {
					if err := sess.Publish(msg(ids[i], n, 2)); err != nil {
						t.Errorf("%s publish %d: %v", ids[i], n, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	publish(0)
	s.waitFor("first part", inOrder(ids, part))
	r.outage(st, s)
	publish(part)
	r.recover(s, 2)
	publish(2 * part)
	s.waitFor("all upstream", inOrder(ids, 3*part))
	st.wait(failover.StatusUp)
	checkOrder(t, s, ids, 3*part)
	s.mu.Lock()
	for _, c := range ids {
		if got := len(s.got[c]); got != 3*part {
			t.Errorf("%s: %d messages arrived, want %d exactly once", c, got, 3*part)
		}
	}
	s.mu.Unlock()
}

// TestOutageLocalDelivery: during the outage an MQTT-SN subscriber (a
// failover session) and a local MQTT client on the embedded broker's
// listener receive the sensors' messages; after the outage the
// subscription is back on the primary.
func TestOutageLocalDelivery(t *testing.T) {
	r := newRig(t, rigConfig{})
	st := r.watchStatus()
	st.wait(failover.StatusUp)
	ids, ss := openSensors(t, r.f, 1)
	sub := upstreamtest.Open(t, r.f, bridge.ClientInfo{ClientID: "subscriber", CleanSession: true})
	sub.MustSubscribe("sensors/#", 1)

	r.outage(st, nil)
	local := bridgetest.Subscribe(t, r.localURL(), "sensors/#", 1)
	for n := range 10 {
		ss[0].MustPublish(msg(ids[0], n, 1))
	}
	for n := range 10 {
		want := string(payload(ids[0], n))
		if m := bridgetest.Recv(t, local, 10*time.Second); string(m.Payload) != want {
			t.Errorf("local client got %q, want %q", m.Payload, want)
		}
		if m := sub.Recv(10 * time.Second); string(m.Payload) != want {
			t.Errorf("MQTT-SN subscriber got %q, want %q", m.Payload, want)
		}
	}

	r.mq.Start()
	r.gate.set(true)
	st.wait(failover.StatusUp)
	// The subscriber is on the primary again: a message published at
	// mosquitto reaches it.
	bridgetest.Publish(t, r.mq.URL(), "sensors/remote", payload("remote", 0), 1, false)
	deadline := time.After(waitLong)
	for {
		select {
		case m := <-sub.Msgs:
			if string(m.Payload) == "remote/0" {
				return
			}
		case <-deadline:
			t.Fatal("subscriber did not get the upstream message after the outage")
		}
	}
}

// TestStartDown starts with the upstream down: sessions open on the
// fallback at once, publishes are spooled and acknowledged, and replayed
// once the upstream is up.
func TestStartDown(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	r := newRig(t, rigConfig{mq: mq})
	st := r.watchStatus()
	st.wait(failover.StatusDown)
	ids, ss := openSensors(t, r.f, 2)
	for n := range 20 {
		for i, sess := range ss {
			sess.MustPublish(msg(ids[i], n, 1))
		}
	}
	if got := r.sp.Stats().Messages; got != 40 {
		t.Fatalf("spool holds %d messages, want 40", got)
	}
	r.gate.set(false)
	mq.Start()
	s := newSink(t)
	s.attach(mq.URL(), 1)
	r.gate.set(true)
	s.waitFor("replay", inOrder(ids, 20))
	checkOrder(t, s, ids, 20)
	st.wait(failover.StatusUp)
}

// TestRestartReplaysSpool closes everything with messages spooled and
// starts again on the same spool file: they are replayed (through the
// replay session, the sensors being gone).
func TestRestartReplaysSpool(t *testing.T) {
	path := t.TempDir() + "/spool.db"
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	r := newRig(t, rigConfig{mq: mq, spoolPath: path})
	r.watchStatus().wait(failover.StatusDown)
	ids, ss := openSensors(t, r.f, 3)
	for n := range 30 {
		for i, sess := range ss {
			sess.MustPublish(msg(ids[i], n, 1+byte(n%2)))
		}
	}
	r.stop()

	mq.Start()
	s := newSink(t)
	s.attach(mq.URL(), 2)
	r.start(rigConfig{spoolPath: path})
	t.Cleanup(func() { t.Logf("failover %+v spool %+v", r.f.Stats(), r.sp.Stats()) })
	s.waitFor("replay after restart", inOrder(ids, 30))
	checkOrder(t, s, ids, 30)
	r.watchStatus().wait(failover.StatusUp)
}

// TestSpoolFullReject: with "reject" a full spool fails the publish with
// spool.ErrFull (the gateway's congestion), counted.
func TestSpoolFullReject(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	r := newRig(t, rigConfig{mq: mq, maxBytes: 1000, overflow: spool.Reject})
	r.watchStatus().wait(failover.StatusDown)
	_, ss := openSensors(t, r.f, 1)
	var n int
	var err error
	for n = 0; n < 100; n++ {
		if err = ss[0].Publish(msg("sensor0", n, 1)); err != nil {
			break
		}
	}
	if !errors.Is(err, spool.ErrFull) {
		t.Fatalf("after %d messages: error %v, want spool.ErrFull", n, err)
	}
	if r.f.Stats().Rejected != 1 || r.sp.Stats().Rejected != 1 {
		t.Errorf("rejections counted: failover %d, spool %d; want 1", r.f.Stats().Rejected, r.sp.Stats().Rejected)
	}
	// What was accepted is replayed.
	r.gate.set(false)
	mq.Start()
	s := newSink(t)
	s.attach(mq.URL(), 1)
	r.gate.set(true)
	s.waitFor("replay", inOrder([]string{"sensor0"}, n))
	checkOrder(t, s, []string{"sensor0"}, n)
}

// TestSpoolFullDropOldest: with "drop-oldest" every publish is accepted
// and the newest messages are the ones replayed.
func TestSpoolFullDropOldest(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	r := newRig(t, rigConfig{mq: mq, maxBytes: 1000, overflow: spool.DropOldest})
	r.watchStatus().wait(failover.StatusDown)
	_, ss := openSensors(t, r.f, 1)
	const total = 100
	for n := range total {
		ss[0].MustPublish(msg("sensor0", n, 1))
	}
	sst := r.sp.Stats()
	if sst.Dropped == 0 || sst.Messages+int(sst.Dropped) != total {
		t.Fatalf("spool stats %+v: want drops counted, kept+dropped = %d", sst, total)
	}
	kept := sst.Messages
	r.gate.set(false)
	mq.Start()
	s := newSink(t)
	s.attach(mq.URL(), 1)
	r.gate.set(true)
	s.waitFor("replay", func(got map[string][]int) bool { return len(got["sensor0"]) >= kept })
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make([]int, 0, kept)
	for n := total - kept; n < total; n++ {
		want = append(want, n)
	}
	if got := distinct(s.got["sensor0"]); !slices.Equal(got, want) {
		t.Errorf("replayed %v, want the newest %v", got, want)
	}
}

// TestStatusRetained: a local MQTT client that subscribes after a change
// gets the current state as a retained message.
func TestStatusRetained(t *testing.T) {
	r := newRig(t, rigConfig{})
	r.watchStatus().wait(failover.StatusUp)
	check := func(want string) {
		t.Helper()
		m := bridgetest.Recv(t, bridgetest.Subscribe(t, r.localURL(), statusTopic, 1), 10*time.Second)
		if string(m.Payload) != want || !m.Retained {
			t.Errorf("retained status %q (retained %v), want %q", m.Payload, m.Retained, want)
		}
	}
	check(failover.StatusUp)
	st := r.watchStatus()
	// A sensor publishes throughout; the kill is noticed by the probe.
	_, ss := openSensors(t, r.f, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := ss[0].Publish(msg("sensor0", n, 1)); err != nil {
				t.Errorf("publish %d: %v", n, err)
				return
			}
		}
	})
	r.mq.Stop()
	st.wait(failover.StatusDown)
	check(failover.StatusDown)
	r.mq.Start()
	st.waitNot(failover.StatusDown)
	close(stop)
	wg.Wait()
	st.wait(failover.StatusUp)
	check(failover.StatusUp)
	if n := r.sp.Stats().Messages; n != 0 {
		t.Errorf("%d messages left in the spool when up", n)
	}
	t.Logf("stats %+v", r.f.Stats())
}

// TestLiveTrafficNotHeldUp: while one sensor's backlog is replayed at a
// low rate, another sensor's messages go to the broker directly.
func TestLiveTrafficNotHeldUp(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	r := newRig(t, rigConfig{mq: mq, replayRate: 50})
	st := r.watchStatus()
	st.wait(failover.StatusDown)
	ids, ss := openSensors(t, r.f, 2)
	const backlog = 200
	for n := range backlog {
		ss[0].MustPublish(msg(ids[0], n, 1))
	}
	r.gate.set(false)
	s := newSink(t)
	r.recover(s, 1)
	st.wait(failover.StatusReplaying)
	for n := range 10 {
		ss[1].MustPublish(msg(ids[1], n, 1))
	}
	s.waitFor("live messages", inOrder(ids[1:], 10))
	s.mu.Lock()
	replayed := len(s.got[ids[0]])
	s.mu.Unlock()
	if replayed >= backlog {
		t.Errorf("the live messages came only after the whole backlog")
	}
	// They went directly, or (if the session was still moving back to
	// the primary) through the spool, round-robin with the backlog.
	t.Logf("backlog messages before the live ones: %d; stats %+v", replayed, r.f.Stats())
	s.waitFor("backlog", inOrder(ids[:1], backlog))
	checkOrder(t, s, ids[1:], 10)
	checkOrder(t, s, ids[:1], backlog)
	st.wait(failover.StatusUp)
}

// TestFlapping: four stop/start cycles while three sensors publish QoS 1
// without pause; nothing acknowledged is lost, order per sensor holds.
func TestFlapping(t *testing.T) {
	for _, mode := range []paho.Mode{paho.Transparent, paho.Aggregating} {
		t.Run(mode.String(), func(t *testing.T) { testFlapping(t, mode) })
	}
}

func testFlapping(t *testing.T, mode paho.Mode) {
	r := newRig(t, rigConfig{mode: mode})
	st := r.watchStatus()
	st.wait(failover.StatusUp)
	s := newSink(t)
	s.attach(r.mq.URL(), 1)
	ids, ss := openSensors(t, r.f, 3)
	// The sensors publish at most perPhase messages each per phase: an
	// unbounded stream outran the test subscriber's queue at mosquitto.
	const perPhase = 30
	bud := newBudget()
	var acked atomic.Int32
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	sent := make([]int, len(ss))
	var wg sync.WaitGroup
	for i, sess := range ss {
		wg.Go(func() {
			for n := 0; bud.wait(n, stop); n++ {
				if err := sess.Publish(msg(ids[i], n, 1)); err != nil {
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
	// more waits until the sensors got 50 more acknowledgements.
	more := func() {
		t.Helper()
		target := acked.Load() + 50
		deadline := time.After(waitLong)
		for acked.Load() < target {
			select {
			case <-progress:
			case <-deadline:
				t.Fatal("publishing stalled")
			}
		}
	}
	for range 4 {
		bud.raise(perPhase)
		more()
		r.outage(st, s)
		bud.raise(perPhase)
		more()
		r.recover(s, 1)
		st.waitNot(failover.StatusDown)
	}
	bud.raise(perPhase)
	more()
	close(stop)
	wg.Wait()
	for i, c := range ids {
		s.waitFor("all upstream", inOrder([]string{c}, sent[i]))
		checkOrder(t, s, []string{c}, sent[i])
	}
	st.wait(failover.StatusUp)
	t.Logf("sent %v, stats %+v", sent, r.f.Stats())
}

// TestPersistentSessionHandover: a CleanSession=false client's primary
// session is closed (kept) when the failover switches to the fallback;
// what the broker queued for it meanwhile is handed over when the session
// moves back, and a subscription dropped during the outage is dropped at
// the broker too. (mosquitto keeps nothing across a kill, so the outage is
// the failover's view only: the gate.)
func TestPersistentSessionHandover(t *testing.T) {
	for _, mode := range []paho.Mode{paho.Transparent, paho.Aggregating} {
		t.Run(mode.String(), func(t *testing.T) { testPersistentSessionHandover(t, mode) })
	}
}

func testPersistentSessionHandover(t *testing.T, mode paho.Mode) {
	r := newRig(t, rigConfig{mode: mode})
	st := r.watchStatus()
	st.wait(failover.StatusUp)
	p := upstreamtest.Open(t, r.f, bridge.ClientInfo{ClientID: "persistent", CleanSession: false, KeepAlive: time.Minute})
	p.MustSubscribe("cmd/keep", 1)
	p.MustSubscribe("cmd/drop", 1)

	r.gate.set(false)
	st.wait(failover.StatusDown)
	r.waitClosed()
	p.Unsubscribe("cmd/drop")
	bridgetest.Publish(t, r.mq.URL(), "cmd/keep", []byte("queued"), 1, false)
	r.gate.set(true)
	st.wait(failover.StatusUp)
	if m := p.Recv(waitLong); string(m.Payload) != "queued" || m.Topic != "cmd/keep" {
		t.Fatalf("got %q on %q, want the queued message on cmd/keep", m.Payload, m.Topic)
	}
	r.waitPrimary("persistent")
	// The session is on the primary again, without cmd/drop.
	bridgetest.Publish(t, r.mq.URL(), "cmd/drop", []byte("dropped"), 1, false)
	bridgetest.Publish(t, r.mq.URL(), "cmd/keep", []byte("live"), 1, false)
	if m := p.Recv(waitLong); string(m.Payload) != "live" {
		t.Errorf("got %q on %q, want \"live\" on cmd/keep only", m.Payload, m.Topic)
	}
	p.Close(true)
}

// TestStatusThroughSession: without Config.Status the state is published
// through a session of the embedded broker (on a topic outside $SYS).
func TestStatusThroughSession(t *testing.T) {
	mq := bridgetest.StartMosquitto(t)
	mq.Stop()
	r := newRig(t, rigConfig{mq: mq, statusTopic: "snbridge/upstream"})
	w := &statusWatch{t: t, ch: bridgetest.Subscribe(t, r.localURL(), "snbridge/upstream", 1)}
	w.wait(failover.StatusDown)
	mq.Start()
	w.wait(failover.StatusUp)
	m := bridgetest.Recv(t, bridgetest.Subscribe(t, r.localURL(), "snbridge/upstream", 1), 10*time.Second)
	if string(m.Payload) != failover.StatusUp || !m.Retained {
		t.Errorf("retained status %q (retained %v), want %q", m.Payload, m.Retained, failover.StatusUp)
	}
}

// TestQoS0 during an outage: without spool_qos0 a QoS 0 message reaches
// only the embedded broker's subscribers; with it, it is spooled and
// replayed too.
func TestQoS0(t *testing.T) {
	for _, spoolQoS0 := range []bool{false, true} {
		t.Run(fmt.Sprintf("spool_qos0=%v", spoolQoS0), func(t *testing.T) {
			mq := bridgetest.StartMosquitto(t)
			mq.Stop()
			r := newRig(t, rigConfig{mq: mq, spoolQoS0: spoolQoS0})
			st := r.watchStatus()
			st.wait(failover.StatusDown)
			local := bridgetest.Subscribe(t, r.localURL(), "sensors/#", 0)
			ids, ss := openSensors(t, r.f, 1)
			for n := range 5 {
				ss[0].MustPublish(msg(ids[0], n, 0))
			}
			for n := range 5 {
				if m := bridgetest.Recv(t, local, 10*time.Second); string(m.Payload) != string(payload(ids[0], n)) {
					t.Errorf("local client got %q", m.Payload)
				}
			}
			want := 0
			if spoolQoS0 {
				want = 5
			}
			if got := r.sp.Stats().Messages; got != want {
				t.Fatalf("%d messages spooled, want %d", got, want)
			}
			if !spoolQoS0 {
				return
			}
			r.gate.set(false)
			s := newSink(t)
			r.recover(s, 1)
			s.waitFor("replay", inOrder(ids, 5))
			checkOrder(t, s, ids, 5)
		})
	}
}
