package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
)

// More offline operation through the binary (issue 6): QoS 2 across an
// outage, sessions and sleeping buffers across a restart with the
// upstream down, new messages behind a replaying backlog.

// The failover's log lines for the uplink state. The tests follow these
// rather than the retained status topic for the state at start-up: the
// first states are published while the embedded broker starts, and the
// retained value can then be a stale one (see the report of this test's
// commit); TestFailoverUpstreamRestart follows the topic.
const (
	logUp        = `"message":"upstream up"`
	logDown      = `"message":"upstream down: serving on the fallback broker, spooling"`
	logReplaying = `"message":"upstream up: replaying the spool"`
)

// stopUpstream stops mosq and waits until the gateway has seen it.
func stopUpstream(t *testing.T, mosq *bridgetest.Mosquitto, d *watched) {
	t.Helper()
	mark := d.mark()
	mosq.Stop()
	d.waitAfter(t, mark, logDown)
}

// waitMosquittoSaved waits until mosquitto has saved its database twice
// after this call, so that what it has delivered so far is not delivered
// again from its file after a SIGKILL (Stop) and Start.
func waitMosquittoSaved(t *testing.T, mosq *bridgetest.Mosquitto) {
	t.Helper()
	off := len(mosq.Logs())
	waitFor(t, 15*time.Second, "mosquitto to save its database twice", func() bool {
		return strings.Count(mosq.Logs()[off:], "Saving in-memory database") >= 2
	})
}

// noMoreUpstream publishes a marker on site/marker directly to mosquitto
// and reads up until it arrives: anything else that comes before it is an
// extra (duplicate) message, which fails the test.
func noMoreUpstream(t *testing.T, mosq *bridgetest.Mosquitto, up <-chan bridgetest.Message) {
	t.Helper()
	bridgetest.Publish(t, mosq.URL(), "site/marker", []byte("marker"), 2, false)
	for {
		m := bridgetest.Recv(t, up, 20*time.Second)
		if m.Topic == "site/marker" {
			return
		}
		t.Errorf("extra message upstream after all had arrived: %s %q", m.Topic, m.Payload)
	}
}

// TestFailoverQoS2Outage: three sensors publish QoS 2 while the upstream
// mosquitto is stopped and restarted: every message whose PUBCOMP the
// sensor got arrives upstream exactly once, in order per sensor (the
// spooled ones replayed after the restart).
func TestFailoverQoS2Outage(t *testing.T) {
	mosq := persistentMosquitto(t)
	up := upstreamSubscriberQoS(t, mosq, 2)
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	d := startWatched(t, writeConfig(t, fmt.Sprintf(failoverConfig, snAddr, mqttAddr, mosq.URL(), t.TempDir())))
	d.wait(t, logUp)
	order := newInOrder(up, d.logs)

	// Each sensor: 0..19 with the upstream up, 20..39 once "down" is seen
	// (spooled), 40..59 once the upstream has been started again.
	const sensors, n, outageFrom, restartFrom = 3, 60, 20, 40
	paused, outage := make(chan struct{}, sensors), make(chan struct{})
	reached, restarted := make(chan struct{}, sensors), make(chan struct{})
	gate := func(i int) {
		switch i {
		case outageFrom:
			paused <- struct{}{}
			<-outage
		case restartFrom:
			reached <- struct{}{}
			<-restarted
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	acked := make(chan string, sensors*n)
	errs := make(chan error, sensors)
	want := map[string]int{}
	for k := range sensors {
		id := fmt.Sprintf("q2-sensor-%d", k)
		want["site/"+id] = outageFrom
		go func() {
			_, err := publishSeriesQoS(ctx, t, snAddr, id, mqttsn.QoS2, 0, n, gate, acked)
			errs <- err
		}()
	}
	waitSensors := func(ch <-chan struct{}, what string) {
		t.Helper()
		for range sensors {
			select {
			case <-ch:
			case err := <-errs:
				t.Fatalf("sensor stopped before %s: %v\n%s", what, err, d.logs())
			case <-ctx.Done():
				t.Fatalf("sensors did not reach %s", what)
			}
		}
	}
	waitSensors(paused, "the outage")
	order.expect(t, want, time.Minute)
	// mosquitto is stopped with SIGKILL: once its file holds the
	// completed deliveries, it does not deliver them again after Start.
	waitMosquittoSaved(t, mosq)
	stopUpstream(t, mosq, d)
	close(outage)
	waitSensors(reached, "the restart") // 20..39 acknowledged: spooled
	mark := d.mark()
	mosq.Start()
	close(restarted)
	for range sensors {
		if err := <-errs; err != nil {
			t.Fatalf("sensor: %v\n%s", err, d.logs())
		}
	}
	for id := range want {
		want[id] = n
	}
	order.expect(t, want, time.Minute)
	if order.dups != 0 {
		t.Errorf("%d duplicates upstream at QoS 2", order.dups)
	}
	d.waitAfter(t, mark, logUp)
	noMoreUpstream(t, mosq, up)
	d.term(t)
	d.wait(t, `"message":"failover stats"`, `"spooled":`, `"replayed":`)
}

// restartConfig is failoverConfig with debug logs (the "session state
// saved" lines) and QoS 0 buffered for sleeping clients.
func restartConfig(snAddr, mqttAddr, url, dir string) string {
	c := fmt.Sprintf(failoverConfig, snAddr, mqttAddr, url, dir)
	c = strings.Replace(c, "id = 6\n", "id = 6\nbuffer_qos0 = true\n", 1)
	return strings.Replace(c, `level = "info"`, `level = "debug"`, 1)
}

// TestFailoverRestartUpstreamDown: with [fallback] on and the upstream
// down across a restart of the gateway (graceful, or kill -9 once the
// state was flushed), a sleeping client keeps the messages a local MQTT
// client of the embedded broker sent it, a CleanSession=false client
// keeps its subscription and topic ids, and what a sensor spooled is
// replayed once the upstream returns.
func TestFailoverRestartUpstreamDown(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(t *testing.T, d *watched)
	}{
		{"graceful", func(t *testing.T, d *watched) { d.term(t) }},
		{"kill -9", func(t *testing.T, d *watched) { d.kill9(t) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mosq := persistentMosquitto(t)
			up := upstreamSubscriber(t, mosq)
			snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
			cfgPath := writeConfig(t, restartConfig(snAddr, mqttAddr, mosq.URL(), t.TempDir()))
			d := startWatched(t, cfgPath)
			brokerURL := "tcp://" + mqttAddr
			d.wait(t, logUp)

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			// Both clients set up while the upstream is up.
			scfg := client.Config{ClientID: "fr-sleeper", KeepAlive: time.Minute, CleanSession: true, Retry: 2 * time.Second}
			s, _ := snClientAt(t, snAddr, scfg)
			must(t, "sleeper connect", s.Connect(ctx))
			sack, err := s.Subscribe(ctx, client.FilterName("cmd/fr-sleeper"), mqttsn.QoS2)
			must(t, "sleeper subscribe", err)
			must(t, "sleep", s.Sleep(ctx, 10*time.Minute))
			_ = s.Close()

			kcfg := client.Config{ClientID: "fr-keeper", KeepAlive: time.Minute, CleanSession: false, Retry: 2 * time.Second}
			k, _ := snClientAt(t, snAddr, kcfg)
			must(t, "keeper connect", k.Connect(ctx))
			kack, err := k.Subscribe(ctx, client.FilterName("cmd/fr-keeper"), mqttsn.QoS1)
			must(t, "keeper subscribe", err)
			ktid, err := k.Register(ctx, "site/fr-keeper")
			must(t, "keeper register", err)
			must(t, "keeper publish", k.Publish(ctx, client.Registered(ktid), mqttsn.QoS1, false, []byte("0")))
			must(t, "keeper disconnect", k.Disconnect(ctx))
			_ = k.Close()
			order := newInOrder(up, d.logs)
			order.expect(t, map[string]int{"site/fr-keeper": 1}, 30*time.Second)

			stopUpstream(t, mosq, d)
			// During the outage: a sensor's QoS 1 messages are spooled, a
			// local MQTT client's messages for the sleeper and the keeper
			// are held by the gateway.
			_, err = publishSeriesQoS(ctx, t, snAddr, "fr-sensor", mqttsn.QoS1, 0, 5, nil, make(chan string, 5))
			must(t, "sensor", err)
			pub := bridgetest.Connect(t, brokerURL, nil)
			for i, qos := range []byte{0, 1, 2} {
				bridgetest.PublishClient(t, pub, "cmd/fr-sleeper", []byte{'m', byte('0' + i)}, qos, false)
			}
			bridgetest.PublishClient(t, pub, "cmd/fr-keeper", []byte("kept"), 1, false)
			pub.Disconnect(0)
			d.wait(t, `"client_id":"fr-sleeper"`, `"queued":3`, `"message":"session state saved"`)
			d.wait(t, `"client_id":"fr-keeper"`, `"queued":1`, `"message":"session state saved"`)
			tt.stop(t, d)

			d = startWatched(t, cfgPath) // the upstream still down
			d.wait(t, `"message":"sessions restored"`, `"asleep":1`)
			d.wait(t, logDown)

			// The sleeper wakes from a new address: its messages in order,
			// then PINGRESP.
			s2, smsgs := snClientAt(t, snAddr, scfg)
			must(t, "wake", s2.Wake(ctx))
			if len(smsgs) != 3 {
				t.Fatalf("%d messages before PINGRESP, want 3\n%s", len(smsgs), d.logs())
			}
			for i, qos := range []mqttsn.QoS{0, 1, 2} {
				m := <-smsgs
				if want := fmt.Sprintf("m%d", i); string(m.Payload) != want || m.QoS != qos || m.TopicID != sack.TopicID {
					t.Errorf("sleeper message %d: %+v, want %s at QoS %d on topic id %d", i, m, want, qos, sack.TopicID)
				}
			}

			// The keeper reconnects with CleanSession=false: the held
			// message on its old topic id, its subscription still there
			// for a new message, its registration still valid.
			k2, kmsgs := snClientAt(t, snAddr, kcfg)
			must(t, "keeper reconnect", k2.Connect(ctx))
			recvSN := func(what string) client.Message {
				t.Helper()
				select {
				case m := <-kmsgs:
					return m
				case <-ctx.Done():
					t.Fatalf("keeper: no %s after the restart\n%s", what, d.logs())
					return client.Message{}
				}
			}
			if m := recvSN("held message"); string(m.Payload) != "kept" || m.TopicID != kack.TopicID {
				t.Errorf("keeper got %+v, want kept on topic id %d", m, kack.TopicID)
			}
			bridgetest.Publish(t, brokerURL, "cmd/fr-keeper", []byte("after"), 1, false)
			if m := recvSN("new message"); string(m.Payload) != "after" || m.TopicID != kack.TopicID {
				t.Errorf("keeper got %+v, want after on topic id %d", m, kack.TopicID)
			}
			// Not registered again: the topic id from before the restart.
			must(t, "keeper publish on its old topic id", k2.Publish(ctx, client.Registered(ktid), mqttsn.QoS1, false, []byte("1")))

			// The upstream returns: the spool is replayed.
			mark := d.mark()
			mosq.Start()
			order.expect(t, map[string]int{"site/fr-sensor": 5, "site/fr-keeper": 2}, time.Minute)
			d.waitAfter(t, mark, logUp)
			// The keeper's subscription is on the upstream again.
			bridgetest.Publish(t, mosq.URL(), "cmd/fr-keeper", []byte("upstream"), 1, false)
			if m := recvSN("message from the upstream"); string(m.Payload) != "upstream" || m.TopicID != kack.TopicID {
				t.Errorf("keeper got %+v, want upstream on topic id %d", m, kack.TopicID)
			}
			d.term(t)
		})
	}
}

// TestFailoverKill9NewBehindBacklog: sensors spool QoS 1 messages with
// the upstream down, the gateway is killed (-9) and started again, the
// upstream returns and, while the backlog replays (slowly: replay_rate),
// the sensors reconnect and publish new messages: upstream, per sensor,
// the whole backlog comes first, then the new ones, in order.
func TestFailoverKill9NewBehindBacklog(t *testing.T) {
	mosq := persistentMosquitto(t)
	up := upstreamSubscriber(t, mosq)
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	cfg := strings.Replace(fmt.Sprintf(failoverConfig, snAddr, mqttAddr, mosq.URL(), t.TempDir()), "replay_rate = 0", "replay_rate = 40", 1)
	cfgPath := writeConfig(t, cfg)
	d := startWatched(t, cfgPath)
	d.wait(t, logUp)
	stopUpstream(t, mosq, d)

	const sensors, backlog, n = 3, 60, 90
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ids := make([]string, sensors)
	want := map[string]int{}
	errs := make(chan error, sensors)
	for k := range sensors {
		ids[k] = fmt.Sprintf("nb-sensor-%d", k)
		want["site/"+ids[k]] = n
		go func() {
			_, err := publishSeriesQoS(ctx, t, snAddr, ids[k], mqttsn.QoS1, 0, backlog, nil, make(chan string, backlog))
			errs <- err
		}()
	}
	for range sensors {
		if err := <-errs; err != nil {
			t.Fatalf("sensor: %v\n%s", err, d.logs())
		}
	}
	d.kill9(t)

	d = startWatched(t, cfgPath) // the upstream still down
	d.wait(t, logDown)
	mosq.Start()
	d.wait(t, logReplaying)
	// New messages while the backlog (180 at 40/s) replays.
	for _, id := range ids {
		go func() {
			_, err := publishSeriesQoS(ctx, t, snAddr, id, mqttsn.QoS1, backlog, n, nil, make(chan string, n))
			errs <- err
		}()
	}
	for range sensors {
		if err := <-errs; err != nil {
			t.Fatalf("sensor after the restart: %v\n%s", err, d.logs())
		}
	}
	// The new messages were all acknowledged before the backlog was
	// through (no "up" yet), or this would not test the interleaving.
	if strings.Contains(d.logs(), logUp) {
		t.Fatalf("the backlog was replayed before the new messages were published\n%s", d.logs())
	}
	newInOrder(up, d.logs).expect(t, want, time.Minute)
	d.wait(t, logUp)
	d.term(t)
}

// TestFailoverSpoolMaxAge: messages spooled while the upstream was down
// that are older than spool_max_age when the gateway starts again are
// discarded at start-up, not replayed, and counted (expired) at shutdown;
// the sensor's next message is the first to arrive upstream.
func TestFailoverSpoolMaxAge(t *testing.T) {
	mosq := persistentMosquitto(t)
	up := upstreamSubscriber(t, mosq)
	snAddr, mqttAddr := freeAddr(t, "udp"), freeAddr(t, "tcp")
	const maxAge = time.Second
	cfg := strings.Replace(fmt.Sprintf(failoverConfig, snAddr, mqttAddr, mosq.URL(), t.TempDir()),
		"replay_rate = 0", fmt.Sprintf("replay_rate = 0\nspool_max_age = %q", maxAge.String()), 1)
	cfgPath := writeConfig(t, cfg)
	d := startWatched(t, cfgPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s\nmosquitto log:\n%s", d.logs(), mosq.Logs())
		}
	})
	d.wait(t, logUp)
	stopUpstream(t, mosq, d)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const old = 5
	_, err := publishSeriesQoS(ctx, t, snAddr, "age-sensor", mqttsn.QoS1, 0, old, nil, make(chan string, old))
	must(t, "sensor", err)
	spooledBy := time.Now() // every message was appended before this
	d.term(t)
	d.wait(t, `"message":"failover stats"`, fmt.Sprintf(`"spooled":%d`, old))

	// The gateway is down until the messages are older than spool_max_age.
	waitFor(t, 10*time.Second, "the spooled messages to age past spool_max_age", func() bool {
		return time.Since(spooledBy) > maxAge+200*time.Millisecond
	})
	mosq.Start()
	d = startWatched(t, cfgPath)
	d.wait(t, `"message":"spool discarded expired messages"`, fmt.Sprintf(`"expired":%d`, old))
	d.wait(t, logUp)
	// The sensor's next message is the first thing upstream: the expired
	// ones, which per-client order would put before it, are gone.
	_, err = publishSeriesQoS(ctx, t, snAddr, "age-sensor", mqttsn.QoS1, old, old+1, nil, make(chan string, 1))
	must(t, "sensor after the restart", err)
	if m := bridgetest.Recv(t, up, 20*time.Second); m.Topic != "site/age-sensor" || string(m.Payload) != strconv.Itoa(old) {
		t.Fatalf("first message upstream %s %q, want site/age-sensor %q (an expired message replayed?)\n%s", m.Topic, m.Payload, strconv.Itoa(old), d.logs())
	}
	noMoreUpstream(t, mosq, up)
	d.term(t)
	d.wait(t, `"message":"spool stats"`, fmt.Sprintf(`"expired":%d`, old))
}
