package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport/udp"
)

// Offline operation end to end (issue 6): the binary with [fallback]
// enabled in front of a real mosquitto that the tests stop and start.

const failoverConfig = `[gateway]
id = 6

[[transport.udp]]
listen = %q

[broker]
listen = %q

[upstream]
url = %q

[fallback]
enabled = true
data_dir = %q
replay_rate = 0

[log]
level = "info"
format = "json"
`

const statusTopic = "$SYS/snbridge/upstream"

// persistentMosquitto starts a mosquitto that saves its sessions to disk
// every second, so that the upstream subscriber's session (and its
// subscription) outlives Stop (SIGKILL) and Start: messages the gateway
// replays right after the restart are queued for it.
func persistentMosquitto(t *testing.T) *bridgetest.Mosquitto {
	t.Helper()
	dir := t.TempDir()
	return bridgetest.StartMosquittoWith(t, bridgetest.Options{
		Extra: "persistence true\npersistence_location " + dir + string(filepath.Separator) + "\nautosave_interval 1",
	})
}

// upstreamSubscriber subscribes a persistent session (clean session off,
// reconnecting) to site/# at QoS 1 on mosq and waits until mosquitto has
// saved it to disk.
func upstreamSubscriber(t *testing.T, mosq *bridgetest.Mosquitto) <-chan bridgetest.Message {
	t.Helper()
	return upstreamSubscriberQoS(t, mosq, 1)
}

// upstreamSubscriberQoS is upstreamSubscriber at the given QoS.
func upstreamSubscriberQoS(t *testing.T, mosq *bridgetest.Mosquitto, qos byte) <-chan bridgetest.Message {
	t.Helper()
	ch := make(chan bridgetest.Message, 1<<14)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case ch <- bridgetest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), QoS: m.Qos(), Retained: m.Retained()}:
		case <-stop:
		}
	}
	c := bridgetest.Connect(t, mosq.URL(), func(o *mqtt.ClientOptions) {
		o.SetClientID(bridgetest.ClientID("upstream-sub")).SetCleanSession(false).
			SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
			SetDefaultPublishHandler(handler)
	})
	off := len(mosq.Logs())
	tok := c.Subscribe("site/#", qos, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("upstream subscribe: %v", tok.Error())
	}
	waitFor(t, 20*time.Second, "mosquitto to save the subscriber's session", func() bool {
		return strings.Contains(mosq.Logs()[off:], "Saving in-memory database")
	})
	return ch
}

// waitFor polls cond (a log that another process writes) until it holds
// or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waited %v for %s", timeout, what)
		}
	}
}

// statusWatch follows the retained status topic on the embedded broker.
type statusWatch struct {
	ch   <-chan bridgetest.Message
	seen []string
}

func watchStatus(t *testing.T, brokerURL string) *statusWatch {
	t.Helper()
	return &statusWatch{ch: bridgetest.Subscribe(t, brokerURL, statusTopic, 1)}
}

// wait reads status messages until one says want.
func (w *statusWatch) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case m := <-w.ch:
			w.seen = append(w.seen, string(m.Payload))
			if string(m.Payload) == want {
				return
			}
		case <-deadline.C:
			t.Fatalf("status %q not seen within 60s; seen %q", want, w.seen)
		}
	}
}

// publishSeries connects sensor id to the gateway and publishes payloads
// "0".."n-1" on site/<id> at QoS 1, one at a time (each waits for its
// PUBACK). gate(i) runs before message i. Every acknowledged message is
// reported on acked. It returns how many were acknowledged and the error
// that stopped it, if any.
func publishSeries(ctx context.Context, t *testing.T, snAddr, id string, n int, gate func(i int), acked chan<- string) (int, error) {
	return publishSeriesQoS(ctx, t, snAddr, id, mqttsn.QoS1, 0, n, gate, acked)
}

// publishSeriesQoS is publishSeries at qos for payloads from..n-1 (a QoS
// 2 message is acknowledged once PUBCOMP has come).
func publishSeriesQoS(ctx context.Context, t *testing.T, snAddr, id string, qos mqttsn.QoS, from, n int, gate func(i int), acked chan<- string) (int, error) {
	c, _ := snClientAt(t, snAddr, client.Config{ClientID: id, KeepAlive: 5 * time.Minute, CleanSession: true, Retry: 5 * time.Second, MaxRetries: 6})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return 0, fmt.Errorf("%s: connect: %w", id, err)
	}
	tid, err := c.Register(ctx, "site/"+id)
	if err != nil {
		return 0, fmt.Errorf("%s: register: %w", id, err)
	}
	for i := from; i < n; i++ {
		if gate != nil {
			gate(i)
		}
		if err := c.Publish(ctx, client.Registered(tid), qos, false, []byte(strconv.Itoa(i))); err != nil {
			return i, fmt.Errorf("%s: publish %d: %w", id, i, err)
		}
		select {
		case acked <- id:
		case <-ctx.Done():
			return i + 1, ctx.Err()
		}
	}
	return n, nil
}

// inOrder checks what an upstream subscriber receives: every message
// arrives, each for the first time after all lower ones of its topic
// (QoS 1: duplicates are allowed, reordering is not).
type inOrder struct {
	ch   <-chan bridgetest.Message
	next map[string]int // topic -> messages 0..next-1 have arrived
	dups int
	logs func() string
}

func newInOrder(ch <-chan bridgetest.Message, logs func() string) *inOrder {
	return &inOrder{ch: ch, next: map[string]int{}, logs: logs}
}

// expect reads until, for every topic, the messages 0..want-1 have
// arrived in order.
func (o *inOrder) expect(t *testing.T, want map[string]int, timeout time.Duration) {
	t.Helper()
	done := func() bool {
		for topic, n := range want {
			if o.next[topic] < n {
				return false
			}
		}
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !done() {
		select {
		case m := <-o.ch:
			i, err := strconv.Atoi(string(m.Payload))
			if err != nil {
				t.Fatalf("message %q %q: %v", m.Topic, m.Payload, err)
			}
			switch {
			case i < o.next[m.Topic]:
				o.dups++
			case i == o.next[m.Topic]:
				o.next[m.Topic]++
			default:
				t.Fatalf("%s: message %d arrived before %d (out of order)\ngateway log:\n%s", m.Topic, i, o.next[m.Topic], o.logs())
			}
		case <-deadline.C:
			t.Fatalf("within %v got %v of %v messages in order\ngateway log:\n%s", timeout, o.next, want, o.logs())
		}
	}
	t.Logf("upstream: %v in order, %d duplicates", o.next, o.dups)
}

// TestFailoverUpstreamRestart: four sensors publish 1000 QoS 1 messages
// while the upstream mosquitto is stopped and restarted. During the
// outage a local MQTT client of the embedded broker and an MQTT-SN client
// that connects then receive their messages and the status topic says
// "down"; the broker is started again while the sensors keep publishing;
// every message arrives upstream, in order per sensor, and the retained
// status is "up" again.
//
// mosquitto is stopped with SIGKILL, which loses messages it has
// acknowledged but not yet passed on to the subscriber (the broker's
// loss, not the gateway's), so the sensors pause before the stop until
// the subscriber has everything acknowledged so far. The gateway's own
// handling of a publish in flight when the link dies is covered by
// bridge/failover's tests.
func TestFailoverUpstreamRestart(t *testing.T) {
	mosq := persistentMosquitto(t)
	up := upstreamSubscriber(t, mosq)
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	d := startWatched(t, writeConfig(t, fmt.Sprintf(failoverConfig, snAddr, mqttAddr, mosq.URL(), t.TempDir())))
	brokerURL := "tcp://" + mqttAddr
	status := watchStatus(t, brokerURL)
	status.wait(t, "up")
	local := bridgetest.Subscribe(t, brokerURL, "site/#", 1)
	order := newInOrder(up, d.logs)

	// Each sensor: 0..99 with the upstream up, 100..174 once "down" is
	// seen, 175..249 once the upstream has been started again.
	const sensors, n, outageFrom, restartFrom = 4, 250, 100, 175
	paused, outage, restarted := make(chan struct{}, sensors), make(chan struct{}), make(chan struct{})
	gate := func(i int) {
		switch i {
		case outageFrom:
			paused <- struct{}{}
			<-outage
		case restartFrom:
			<-restarted
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	acked := make(chan string, sensors*n)
	errs := make(chan error, sensors)
	ids := make([]string, sensors)
	want := map[string]int{}
	for k := range sensors {
		ids[k] = fmt.Sprintf("fo-sensor-%d", k)
		want["site/"+ids[k]] = outageFrom
		go func() {
			_, err := publishSeries(ctx, t, snAddr, ids[k], n, gate, acked)
			errs <- err
		}()
	}
	for range sensors {
		select {
		case <-paused:
		case err := <-errs:
			t.Fatalf("sensor stopped before the outage: %v\n%s", err, d.logs())
		case <-ctx.Done():
			t.Fatal("sensors did not reach the outage")
		}
	}
	order.expect(t, want, time.Minute)
	mosq.Stop()
	status.wait(t, "down")
	// An MQTT-SN client that connects during the outage is served (no
	// congestion) and gets a sensor's messages through the embedded broker.
	watcher := snSubscriber(t, ctx, snAddr, "fo-watcher", "site/"+ids[0])
	close(outage)

	// The local client gets what the sensors publish during the outage.
	pending := map[string]bool{}
	for _, id := range ids {
		for i := outageFrom; i < restartFrom; i++ {
			pending["site/"+id+"/"+strconv.Itoa(i)] = true
		}
	}
	for len(pending) > 0 {
		m := bridgetest.Recv(t, local, 60*time.Second)
		delete(pending, m.Topic+"/"+string(m.Payload))
	}

	for want := outageFrom; want < restartFrom; {
		select {
		case m := <-watcher:
			if i, _ := strconv.Atoi(string(m.Payload)); i == want {
				want++
			}
		case <-ctx.Done():
			t.Fatalf("MQTT-SN subscriber: waiting for %s message %d", ids[0], want)
		}
	}

	mosq.Start()
	close(restarted)
	for range sensors {
		if err := <-errs; err != nil {
			t.Fatalf("sensor: %v\n%s", err, d.logs())
		}
	}
	for _, id := range ids {
		want["site/"+id] = n
	}
	order.expect(t, want, 2*time.Minute)
	status.wait(t, "up")
	if !slices.Contains(status.seen, "down") {
		t.Errorf("status sequence %q has no down", status.seen)
	}
	// Retained: a new subscriber gets the current state at once.
	if m := bridgetest.Recv(t, bridgetest.Subscribe(t, brokerURL, statusTopic, 1), 10*time.Second); string(m.Payload) != "up" || !m.Retained {
		t.Errorf("retained status %q (retained %v), want up", m.Payload, m.Retained)
	}
	t.Logf("status sequence: %q", status.seen)

	// The counters are logged at shutdown.
	d.term(t)
	logs := d.logs()
	for _, frag := range []string{`"message":"failover stats"`, `"message":"spool stats"`, `"spooled":`, `"replayed":`, `"message":"UDP transport stats"`} {
		if !strings.Contains(logs, frag) {
			t.Errorf("no %s in the shutdown logs:\n%s", frag, logs)
		}
	}
}

// term stops the process with SIGTERM and expects a clean exit.
func (w *watched) term(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, w.logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30s of SIGTERM\n%s", w.logs())
	}
}

// TestFailoverKill9: with the upstream down, the gateway is killed (-9)
// while sensors publish QoS 1; after a restart of the gateway and then of
// the upstream, every message that had been acknowledged to a sensor
// arrives upstream, in order per sensor.
func TestFailoverKill9(t *testing.T) {
	mosq := persistentMosquitto(t)
	up := upstreamSubscriber(t, mosq)
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	cfgPath := writeConfig(t, fmt.Sprintf(failoverConfig, snAddr, mqttAddr, mosq.URL(), t.TempDir()))
	d := startWatched(t, cfgPath)
	status := watchStatus(t, "tcp://"+mqttAddr)
	status.wait(t, "up")
	mosq.Stop()
	status.wait(t, "down")

	const sensors, n = 3, 100000
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	acked := make(chan string, 1<<12)
	type result struct {
		id  string
		n   int
		err error
	}
	results := make(chan result, sensors)
	for k := range sensors {
		id := fmt.Sprintf("k9-sensor-%d", k)
		go func() {
			got, err := publishSeries(ctx, t, snAddr, id, n, nil, acked)
			results <- result{id, got, err}
		}()
	}
	for range 150 { // mid-stream: every sensor is still publishing
		select {
		case <-acked:
		case r := <-results:
			t.Fatalf("sensor %s stopped early after %d: %v\n%s", r.id, r.n, r.err, d.logs())
		case <-ctx.Done():
			t.Fatal("sensors did not publish")
		}
	}
	d.kill9(t)
	cancel() // the sensors' pending publishes end unacknowledged
	want := map[string]int{}
	for range sensors {
		r := <-results
		if r.err == nil {
			t.Fatalf("sensor %s published all %d messages; the kill was not mid-stream", r.id, n)
		}
		t.Logf("sensor %s stopped after %d acknowledged: %v", r.id, r.n, r.err)
		want["site/"+r.id] = r.n
	}
	t.Logf("acknowledged before kill -9: %v", want)

	d = startWatched(t, cfgPath) // with the upstream still down
	mosq.Start()
	newInOrder(up, d.logs).expect(t, want, 2*time.Minute)
}

// TestDamagedSpoolFile: a spool file that is not one stops start-up with
// an error naming the file and what to do; the file is left as it was.
func TestDamagedSpoolFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool.db")
	garbage := []byte(strings.Repeat("garbage!", 1024))
	must(t, "write", os.WriteFile(path, garbage, 0o600))
	cfg := writeConfig(t, fmt.Sprintf(failoverConfig, freeAddr(t, "udp"), freeAddr(t, "tcp"), "tcp://127.0.0.1:1", dir))
	_, stderr, code := runBinary(t, "-c", cfg)
	if code == 0 {
		t.Fatalf("exit 0 with a damaged spool\n%s", stderr)
	}
	for _, w := range []string{path, "not a spool", "move it away"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, stderr)
		}
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, garbage) {
		t.Errorf("spool file changed (%v)", err)
	}
}

// snSubscriber connects an MQTT-SN client and subscribes it to filter at
// QoS 1; its messages come on the returned channel.
func snSubscriber(t *testing.T, ctx context.Context, snAddr, id, filter string) <-chan client.Message {
	t.Helper()
	conn, err := udp.Listen(udp.Config{Listen: "127.0.0.1:0"})
	must(t, "listen", err)
	gw, err := netipAddr(snAddr)
	must(t, "gateway address", err)
	msgs := make(chan client.Message, 1<<12)
	c := client.Open(conn, client.Config{Gateway: gw, ClientID: id, KeepAlive: 5 * time.Minute, CleanSession: true, Retry: 5 * time.Second,
		OnMessage: func(m client.Message) {
			select {
			case msgs <- m:
			default: // the test reads what it needs; the rest is not kept
			}
		}})
	t.Cleanup(func() { _ = c.Close() })
	must(t, id+" connect", c.Connect(ctx))
	_, err = c.Subscribe(ctx, client.FilterName(filter), mqttsn.QoS1)
	must(t, id+" subscribe", err)
	return msgs
}

// TestSpoolFull: with the upstream unreachable and a tiny spool, policy
// "reject" gives the sensor congestion once the spool is full and
// "drop-oldest" keeps accepting; both are counted in the stats logged at
// shutdown.
func TestSpoolFull(t *testing.T) {
	for _, tt := range []struct {
		policy, counter string
		reject          bool
	}{
		{"reject", `"rejected":`, true},
		{"drop-oldest", `"dropped":`, false},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
			// The upstream: a port nobody listens on.
			cfg := fmt.Sprintf(failoverConfig, snAddr, mqttAddr, "tcp://"+freeAddr(t, "tcp"), t.TempDir())
			cfg = strings.Replace(cfg, "replay_rate = 0\n", fmt.Sprintf("replay_rate = 0\nspool_max_bytes = \"2KiB\"\noverflow = %q\n", tt.policy), 1)
			d := startWatched(t, writeConfig(t, cfg))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			c, _ := snClientAt(t, snAddr, client.Config{ClientID: "full-sensor", KeepAlive: 5 * time.Minute, CleanSession: true, Retry: 5 * time.Second})
			must(t, "connect", c.Connect(ctx))
			tid, err := c.Register(ctx, "site/full")
			must(t, "register", err)
			payload := []byte(strings.Repeat("x", 100))
			var rejected *client.RejectedError
			accepted := 0
			for range 200 {
				err = c.Publish(ctx, client.Registered(tid), mqttsn.QoS1, false, payload)
				if err != nil {
					break
				}
				accepted++
			}
			switch {
			case tt.reject && !errors.As(err, &rejected):
				t.Fatalf("after %d accepted: %v, want a rejection\n%s", accepted, err, d.logs())
			case tt.reject && rejected.Code != mqttsn.RejectedCongestion:
				t.Fatalf("rejected with %v, want congestion", rejected.Code)
			case !tt.reject && err != nil:
				t.Fatalf("drop-oldest: publish %d: %v", accepted, err)
			}
			t.Logf("%s: %d accepted", tt.policy, accepted)
			d.term(t)
			if logs := d.logs(); !strings.Contains(logs, `"message":"spool stats"`) || !strings.Contains(logs, tt.counter) {
				t.Errorf("no spool stats with %s at shutdown:\n%s", tt.counter, logs)
			}
		})
	}
}
