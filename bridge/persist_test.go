package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/embedded"
	"github.com/snbridge/snbridge/bridge/paho"
	"github.com/snbridge/snbridge/bridge/state"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/mqttsn/session"
	"github.com/snbridge/snbridge/transport"
	"github.com/snbridge/snbridge/transport/udp"
)

// logWatch is a log writer that passes lines on to the test log and lets
// a test wait for a line containing given fragments.
type logWatch struct {
	out io.Writer
	mu  sync.Mutex
	buf []string
	ch  chan struct{}
}

func newLogWatch(t testing.TB) *logWatch {
	return &logWatch{out: zerolog.NewTestWriter(t), ch: make(chan struct{}, 1)}
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		w.buf = append(w.buf, sc.Text())
	}
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
	return w.out.Write(p)
}

// wait blocks until a line logged after mark contains every fragment;
// it returns the index after that line.
func (w *logWatch) wait(t testing.TB, mark int, frags ...string) int {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		w.mu.Lock()
		for i := mark; i < len(w.buf); i++ {
			ok := true
			for _, f := range frags {
				ok = ok && strings.Contains(w.buf[i], f)
			}
			if ok {
				w.mu.Unlock()
				return i + 1
			}
		}
		mark = len(w.buf)
		w.mu.Unlock()
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("no log line with %q", frags)
		}
	}
}

// site is a gateway with its embedded broker and state store, all kept
// in one data directory, that a test can stop and start again.
type site struct {
	gw     *bridge.Gateway
	addr   transport.Addr // the gateway's UDP address
	url    string         // the embedded broker's MQTT listener
	log    *logWatch
	stopFn func()
}

// startSite starts a site on dir; listen is the gateway's UDP address
// ("127.0.0.1:0" the first time, the same address again after a restart).
func startSite(t *testing.T, dir, listen string) *site {
	t.Helper()
	return startSiteFlush(t, dir, listen, 20*time.Millisecond)
}

// startSiteFlush is startSite with the state flush interval given.
func startSiteFlush(t *testing.T, dir, listen string, flush time.Duration) *site {
	t.Helper()
	return startSiteWith(t, dir, listen, flush, "", 0)
}

// startSiteWith is startSiteFlush with, when remoteURL is set, a remote
// broker through paho in remoteMode as the upstream.
func startSiteWith(t *testing.T, dir, listen string, flush time.Duration, remoteURL string, remoteMode paho.Mode) *site {
	t.Helper()
	lw := newLogWatch(t)
	log := zerolog.New(lw).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	st, err := state.Open(state.Config{Path: filepath.Join(dir, "state.db"), Logger: log})
	must(t, "state.Open", err)
	b, err := embedded.New(embedded.Config{Listen: "127.0.0.1:0", StorePath: filepath.Join(dir, "broker.db"), Logger: log})
	must(t, "embedded.New", err)
	var up bridge.Upstream = b
	var remote *paho.Upstream
	if remoteURL != "" {
		remote, err = paho.New(paho.Config{URL: remoteURL, Mode: remoteMode, Logger: log.Level(zerolog.InfoLevel),
			OpenTimeout: 2 * time.Second, ConnectTimeout: 2 * time.Second, MaxReconnectInterval: time.Second})
		must(t, "paho.New", err)
		up = remote
	}
	conn, err := udp.Listen(udp.Config{Listen: listen})
	must(t, "udp.Listen", err)
	gw, err := bridge.New(bridge.Config{
		Transports: []transport.Conn{conn},
		Upstream:   up,
		Session:    session.Config{BufferQoS0: true},
		GatewayID:  7,
		State:      st,
		StateFlush: flush,
		Logger:     log,
	})
	must(t, "bridge.New", err)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { errs <- b.Run(ctx) })
	if remote != nil {
		wg.Go(func() { errs <- remote.Run(ctx) })
	}
	select {
	case <-b.Started():
	case <-time.After(waitTimeout):
		t.Fatal("embedded broker did not start")
	}
	gctx, gcancel := context.WithCancel(context.Background())
	gdone := make(chan error, 1)
	go func() { gdone <- gw.Run(gctx) }()
	s := &site{gw: gw, addr: conn.LocalAddr(), url: "tcp://" + b.Addr(), log: lw}
	var once sync.Once
	s.stopFn = func() {
		once.Do(func() {
			// The gateway first (its last flush), then the broker, then
			// the store file.
			gcancel()
			if err := <-gdone; err != nil {
				t.Errorf("gateway: %v", err)
			}
			cancel()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("broker: %v", err)
				}
			}
			must(t, "state close", st.Close())
		})
	}
	t.Cleanup(s.stopFn)
	return s
}

func (s *site) stop() { s.stopFn() }

// TestRestartSleepingClient: a sleeping client's buffered messages (QoS
// 0, 1 and 2, and one published after the restart) survive a restart of
// the gateway and the embedded broker; the client wakes with PINGREQ from
// a new address, without reconnecting, and gets them in order, with its
// old topic id, followed by PINGRESP.
func TestRestartSleepingClient(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := map[bool]string{true: "clean", false: "persistent"}[clean]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := startSite(t, dir, "127.0.0.1:0")
			ctx := ctxT(t)
			cfg := client.Config{ClientID: "sleeper", KeepAlive: time.Minute, CleanSession: clean}
			sn, _ := snClient(t, s.addr, cfg)
			must(t, "connect", sn.Connect(ctx))
			ack, err := sn.Subscribe(ctx, client.FilterName("cmd/sleeper"), 2)
			must(t, "subscribe", err)
			must(t, "sleep", sn.Sleep(ctx, 10*time.Minute))

			// One publisher connection: the broker keeps its order.
			pub := bridgetest.Connect(t, s.url, nil)
			for i, qos := range []byte{0, 1, 2} {
				bridgetest.PublishClient(t, pub, "cmd/sleeper", []byte{'m', byte('0' + i)}, qos, false)
			}
			s.log.wait(t, 0, `"client_id":"sleeper"`, `"queued":3`, "session state saved")
			s.stop()

			s = startSite(t, dir, s.addr.String())
			s.log.wait(t, 0, "sessions restored", `"asleep":1`)
			// The restored subscription is live again before the client
			// wakes: a message published now is buffered too.
			s.log.wait(t, 0, `"component":"bridge/embedded"`, `"client_id":"sleeper"`, "subscribed")
			bridgetest.Publish(t, s.url, "cmd/sleeper", []byte("m3"), 1, false)
			s.log.wait(t, 0, `"client_id":"sleeper"`, `"queued":4`, "session state saved")

			// Still known at its old address: a PUBLISH without waking
			// first is served (not answered with DISCONNECT).
			short, err := client.Short("zz")
			must(t, "short topic", err)
			must(t, "publish from the old address while asleep", sn.Publish(ctx, short, 1, false, []byte("x")))

			var regs int
			cfg.Debug = func(d client.Direction, p *mqttsn.Packet) {
				if p.Type == mqttsn.TypeRegister {
					regs++
				}
			}
			sn2, msgs := snClient(t, s.addr, cfg) // a new socket: a new address
			if sn2.LocalAddr() == sn.LocalAddr() {
				t.Fatal("same address")
			}
			// Wake returns at PINGRESP, which follows the last message.
			must(t, "wake", sn2.Wake(ctx))
			var got []client.Message
			for len(msgs) > 0 {
				got = append(got, <-msgs)
			}
			if len(got) != 4 {
				t.Fatalf("got %d messages before PINGRESP, want 4: %+v", len(got), got)
			}
			for i, m := range got {
				want := []byte{'m', byte('0' + i)}
				if !bytes.Equal(m.Payload, want) || m.TopicID != ack.TopicID || m.TopicIDType != mqttsn.TopicIDNormal {
					t.Errorf("message %d: %+v, want %q on topic id %d", i, m, want, ack.TopicID)
				}
			}
			if want := []mqttsn.QoS{0, 1, 2, 1}; got[0].QoS != want[0] || got[1].QoS != want[1] || got[2].QoS != want[2] || got[3].QoS != want[3] {
				t.Errorf("QoS %v %v %v %v, want %v", got[0].QoS, got[1].QoS, got[2].QoS, got[3].QoS, want)
			}
			if regs != 0 {
				t.Errorf("%d REGISTERs: the topic id should have survived", regs)
			}
			if st := s.gw.Stats(); st.UnknownClient != 0 {
				t.Errorf("the woken client was treated as unknown (%d)", st.UnknownClient)
			}
		})
	}
}

// TestRestartPersistentClient: a CleanSession=false client keeps its
// subscriptions and topic ids across a restart: a message published while
// it is away after the restart arrives when it reconnects, with its old
// topic id and no REGISTER, and it can publish with its old registered
// id. A retained message kept by the embedded broker survives too.
func TestRestartPersistentClient(t *testing.T) {
	dir := t.TempDir()
	s := startSite(t, dir, "127.0.0.1:0")
	ctx := ctxT(t)
	cfg := client.Config{ClientID: "keeper", KeepAlive: time.Minute, CleanSession: false}
	sn, _ := snClient(t, s.addr, cfg)
	must(t, "connect", sn.Connect(ctx))
	ack, err := sn.Subscribe(ctx, client.FilterName("cmd/keeper"), 1)
	must(t, "subscribe", err)
	upID, err := sn.Register(ctx, "data/keeper")
	must(t, "register", err)
	must(t, "publish retained", sn.Publish(ctx, client.Registered(upID), 1, true, []byte("last")))
	s.log.wait(t, 0, `"client_id":"keeper"`, "session state saved")
	s.stop() // the client stays connected as far as it knows

	s = startSite(t, dir, s.addr.String())
	s.log.wait(t, 0, `"component":"bridge/embedded"`, `"client_id":"keeper"`, "subscribed") // re-subscribed
	bridgetest.Publish(t, s.url, "cmd/keeper", []byte("while away"), 1, false)

	retained := make(chan bridgetest.Message, 1)
	local := bridgetest.Connect(t, s.url, nil)
	local.Subscribe("data/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		retained <- bridgetest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()}
	}).Wait()
	if m := bridgetest.Recv(t, retained, waitTimeout); m.Topic != "data/keeper" || string(m.Payload) != "last" || !m.Retained {
		t.Fatalf("retained after restart: %+v", m)
	}

	var regs int
	var mu sync.Mutex
	cfg.Debug = func(d client.Direction, p *mqttsn.Packet) {
		if p.Type == mqttsn.TypeRegister {
			mu.Lock()
			regs++
			mu.Unlock()
		}
	}
	sn2, msgs := snClient(t, s.addr, cfg)
	must(t, "reconnect", sn2.Connect(ctx))
	m := recvSN(t, msgs)
	if string(m.Payload) != "while away" || m.TopicID != ack.TopicID || m.TopicIDType != mqttsn.TopicIDNormal {
		t.Fatalf("got %+v, want 'while away' on topic id %d", m, ack.TopicID)
	}
	must(t, "publish with the old id", sn2.Publish(ctx, client.Registered(upID), 1, false, []byte("fresh")))
	if m := bridgetest.Recv(t, retained, waitTimeout); m.Topic != "data/keeper" || string(m.Payload) != "fresh" {
		t.Fatalf("local subscriber got %+v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if regs != 0 {
		t.Errorf("%d REGISTERs after reconnecting", regs)
	}
}

// TestStateCoalesced: a sleeping client's session that takes 100 messages
// is not rewritten per message: with a flush interval longer than the
// test, it is written once, at the graceful stop, with every message,
// and restored whole.
func TestStateCoalesced(t *testing.T) {
	dir := t.TempDir()
	s := startSiteFlush(t, dir, "127.0.0.1:0", time.Hour)
	ctx := ctxT(t)
	cfg := client.Config{ClientID: "bulk", KeepAlive: time.Minute, CleanSession: true}
	sn, _ := snClient(t, s.addr, cfg)
	must(t, "connect", sn.Connect(ctx))
	_, err := sn.Subscribe(ctx, client.FilterName("bulk/data"), 1)
	must(t, "subscribe", err)
	must(t, "sleep", sn.Sleep(ctx, 10*time.Minute))
	// A probe on the same topic: when it has the last message, the
	// sleeper's session has taken every message before it.
	probe, probeMsgs := snClient(t, s.addr, client.Config{ClientID: "probe", KeepAlive: time.Minute, CleanSession: true})
	must(t, "probe connect", probe.Connect(ctx))
	_, err = probe.Subscribe(ctx, client.FilterName("bulk/data"), 1)
	must(t, "probe subscribe", err)

	pub := bridgetest.Connect(t, s.url, nil)
	const n = 99 // plus the last one: the sleep buffer's 100
	for i := range n + 1 {
		bridgetest.PublishClient(t, pub, "bulk/data", []byte{byte(i)}, 1, false)
	}
	for i := 0; i <= n; i++ {
		if m := recvSN(t, probeMsgs); i == n && m.Payload[0] != n {
			t.Fatalf("probe's last message %v", m.Payload)
		}
	}
	s.stop()
	saves := 0
	s.log.mu.Lock()
	for _, l := range s.log.buf {
		if strings.Contains(l, `"client_id":"bulk"`) && strings.Contains(l, "session state saved") {
			saves++
		}
	}
	s.log.mu.Unlock()
	if saves != 1 {
		t.Errorf("the sleeping session was written %d times, want once (at stop)", saves)
	}
	if st := s.gw.StateStats(); st.Saved != 1 || st.Errors != 0 {
		t.Errorf("state stats %+v: want 1 saved (only the sleeper is kept), no error", st)
	}

	s = startSite(t, dir, s.addr.String())
	s.log.wait(t, 0, "sessions restored")
	sn2, msgs := snClient(t, s.addr, cfg)
	must(t, "wake", sn2.Wake(ctx))
	if len(msgs) < n {
		t.Fatalf("%d messages restored, want at least %d", len(msgs), n)
	}
	for i := 0; len(msgs) > 0; i++ {
		if m := <-msgs; m.Payload[0] != byte(i) {
			t.Fatalf("message %d is %v", i, m.Payload)
		}
	}
}

// TestRestartRemoteUpstream: with a remote broker (a real mosquitto that
// keeps running) in transparent mode, a persistent client's broker session
// is left alone at the restart and resumed by its CONNECT, with what was
// published while the gateway was down and after its restart; a
// sleeping client's re-made subscription brings it the retained message
// published while the gateway was down.
func TestRestartRemoteUpstream(t *testing.T) {
	mosq := bridgetest.StartMosquitto(t)
	dir := t.TempDir()
	start := func(listen string) *site {
		return startSiteWith(t, dir, listen, 20*time.Millisecond, mosq.URL(), paho.Transparent)
	}
	s := start("127.0.0.1:0")
	ctx := ctxT(t)
	keep := client.Config{ClientID: "keeper-r", KeepAlive: time.Minute, CleanSession: false}
	sn, _ := snClient(t, s.addr, keep)
	must(t, "connect", sn.Connect(ctx))
	ack, err := sn.Subscribe(ctx, client.FilterName("cmd/keeper-r"), 1)
	must(t, "subscribe", err)
	must(t, "disconnect", sn.Disconnect(ctx))
	sleep := client.Config{ClientID: "sleeper-r", KeepAlive: time.Minute, CleanSession: true}
	sl, _ := snClient(t, s.addr, sleep)
	must(t, "connect sleeper", sl.Connect(ctx))
	slAck, err := sl.Subscribe(ctx, client.FilterName("cmd/sleeper-r"), 1)
	must(t, "subscribe sleeper", err)
	must(t, "sleep", sl.Sleep(ctx, 10*time.Minute))
	s.log.wait(t, 0, `"client_id":"sleeper-r"`, `"state":"asleep"`, "session state saved")
	s.stop()

	pub := bridgetest.Connect(t, mosq.URL(), nil)
	bridgetest.PublishClient(t, pub, "cmd/keeper-r", []byte("while down"), 1, false)
	bridgetest.PublishClient(t, pub, "cmd/sleeper-r", []byte("retained"), 1, true)
	s = start(s.addr.String())
	s.log.wait(t, 0, "sessions restored", `"sessions":2`)
	bridgetest.PublishClient(t, pub, "cmd/keeper-r", []byte("after restart"), 1, false)

	sn2, msgs := snClient(t, s.addr, keep)
	must(t, "reconnect", sn2.Connect(ctx))
	for _, want := range []string{"while down", "after restart"} {
		m := recvSN(t, msgs)
		if string(m.Payload) != want || m.TopicID != ack.TopicID {
			t.Fatalf("got %+v, want %q on topic id %d", m, want, ack.TopicID)
		}
	}

	// The sleeper's clean upstream session was re-opened and its
	// subscription re-made: the retained message published while the
	// gateway was down is buffered for it.
	s.log.wait(t, 0, `"client_id":"sleeper-r"`, `"queued":1`, "session state saved")
	sl2, slMsgs := snClient(t, s.addr, sleep)
	must(t, "wake", sl2.Wake(ctx))
	if len(slMsgs) == 0 {
		t.Fatal("no buffered message on wake")
	}
	if m := <-slMsgs; string(m.Payload) != "retained" || !m.Retain || m.TopicID != slAck.TopicID {
		t.Fatalf("sleeper got %+v", m)
	}
}

// TestRestartPersistentAway: messages for a CleanSession=false client
// that disconnected wait in its saved session (the embedded broker does
// not keep sessions across restarts): published before the restart and
// after it, they all arrive when it reconnects, in order.
func TestRestartPersistentAway(t *testing.T) {
	dir := t.TempDir()
	s := startSite(t, dir, "127.0.0.1:0")
	ctx := ctxT(t)
	cfg := client.Config{ClientID: "away", KeepAlive: time.Minute, CleanSession: false}
	sn, _ := snClient(t, s.addr, cfg)
	must(t, "connect", sn.Connect(ctx))
	ack, err := sn.Subscribe(ctx, client.FilterName("cmd/away"), 1)
	must(t, "subscribe", err)
	must(t, "disconnect", sn.Disconnect(ctx))
	pub := bridgetest.Connect(t, s.url, nil)
	bridgetest.PublishClient(t, pub, "cmd/away", []byte("before"), 1, false)
	bridgetest.PublishClient(t, pub, "cmd/away", []byte("before-0"), 0, false) // kept: buffer_qos0 is on
	s.log.wait(t, 0, `"client_id":"away"`, `"state":"disconnected"`, `"queued":2`, "session state saved")
	s.stop()

	s = startSite(t, dir, s.addr.String())
	s.log.wait(t, 0, `"component":"bridge/embedded"`, `"client_id":"away"`, "subscribed")
	bridgetest.Publish(t, s.url, "cmd/away", []byte("after"), 1, false)

	sn2, msgs := snClient(t, s.addr, cfg)
	must(t, "reconnect", sn2.Connect(ctx))
	var got []string
	for len(got) < 3 {
		m := recvSN(t, msgs)
		if m.TopicID != ack.TopicID {
			t.Errorf("%q on topic id %d, want %d", m.Payload, m.TopicID, ack.TopicID)
		}
		got = append(got, string(m.Payload))
		if string(m.Payload) == "after" {
			break
		}
	}
	if want := []string{"before", "before-0", "after"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %q, want %q", got, want)
	}
}
