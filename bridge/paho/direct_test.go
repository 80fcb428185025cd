package paho

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/bridgetest"
	"github.com/snbridge/snbridge/bridge/bridgetest/upstreamtest"
)

// writePublish0 encodes what paho's packet reader decodes.
func TestWritePublish0Encoding(t *testing.T) {
	g := newGateConn(false)
	c := newCoalescingConn(g, 1<<16, time.Second, 0)
	if sent, err := c.writePublish0("a/b", []byte("x"), false); sent || err != nil {
		t.Fatalf("before the first Write: sent %v, %v; want nothing written", sent, err)
	}
	mustWrite(t, c, "") // stands for paho's CONNECT
	cases := []struct {
		topic   string
		payload []byte
		retain  bool
	}{
		{"a/b", []byte("xy"), false},
		{"retained", []byte{0, 1, 2}, true},
		{"long", bytes.Repeat([]byte{7}, 200), false},    // 2-byte remaining length
		{"longer", bytes.Repeat([]byte{9}, 20000), true}, // 3-byte remaining length
		{"empty", nil, false},
	}
	for _, tc := range cases {
		if sent, err := c.writePublish0(tc.topic, tc.payload, tc.retain); !sent || err != nil {
			t.Fatalf("%s: sent %v, %v", tc.topic, sent, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader([]byte(strings.Join(g.recorded(), "")))
	for _, tc := range cases {
		cp, err := packets.ReadPacket(r)
		if err != nil {
			t.Fatalf("%s: %v", tc.topic, err)
		}
		p, ok := cp.(*packets.PublishPacket)
		if !ok || p.TopicName != tc.topic || !bytes.Equal(p.Payload, tc.payload) || p.Retain != tc.retain || p.Qos != 0 || p.Dup {
			t.Fatalf("%s: decoded %v", tc.topic, cp)
		}
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes left over", r.Len())
	}
}

// writePublish0 leaves a full buffer to paho (which waits for room) and
// reports a failed or closed connection.
func TestWritePublish0FullAndFailed(t *testing.T) {
	g := newGateConn(true)
	c := newCoalescingConn(g, 16, time.Second, 0)
	mustWrite(t, c, "C")
	mustWrite(t, c, "0123456789") // pending behind the gated "C" (or with it)
	if sent, err := c.writePublish0("topic", []byte("payload"), false); sent || err != nil {
		t.Fatalf("full buffer: sent %v, %v; want nothing written", sent, err)
	}
	close(g.gate)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if sent, err := c.writePublish0("t", nil, false); !sent || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after Close: sent %v, %v; want net.ErrClosed", sent, err)
	}
}

// QoS 0 publishes take the direct path in both modes, over tcp, and
// arrive complete and in order, also when QoS 1 publishes are mixed in.
func TestDirectPublish(t *testing.T) {
	forModes(t, func(t *testing.T, mode Mode) {
		m := bridgetest.StartMosquitto(t)
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode})
		s := upstreamtest.Open(t, u, info("direct", true))
		ch := bridgetest.Subscribe(t, m.URL(), "direct/#", 0)
		const n = 500
		var dones []<-chan error
		for i := range n {
			qos := byte(0)
			if i%100 == 99 {
				qos = 1
			}
			dones = append(dones, s.PublishAsync(bridge.Message{Topic: "direct/t", Payload: fmt.Appendf(nil, "%d", i), QoS: qos}))
		}
		for i, d := range dones {
			select {
			case err := <-d:
				if err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
			case <-time.After(timeout):
				t.Fatalf("publish %d: no completion", i)
			}
		}
		// QoS 1 may be held in mosquitto's in-flight window; the QoS 0
		// ones keep their order among themselves. [MQTT 3.1.1 §4.6]
		seen := make(map[int]bool)
		last := -1
		for range n {
			got := bridgetest.Recv(t, ch, timeout)
			var i int
			if _, err := fmt.Sscan(string(got.Payload), &i); err != nil || seen[i] {
				t.Fatalf("bad or duplicate message %q", got.Payload)
			}
			seen[i] = true
			if i%100 != 99 {
				if i < last {
					t.Fatalf("QoS 0 message %d after %d", i, last)
				}
				last = i
			}
		}
		if d := directSent(u); d == 0 {
			t.Fatal("no QoS 0 publish took the direct path")
		} else {
			t.Logf("%d of %d QoS 0 publishes written directly", d, n-n/100)
		}
	})
}

// directSent sums the direct writes of u's paho clients.
func directSent(u *Upstream) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n uint64
	if u.agg != nil {
		n += u.agg.direct.sent.Load()
	}
	for s := range u.sessions {
		n += s.direct.sent.Load()
	}
	return n
}

// Over tls:// the direct path writes into the coalescing conn above the
// tls.Conn: the messages arrive whole and in order.
func TestDirectPublishTLS(t *testing.T) {
	f := bridgetest.WriteTLSFiles(t, "broker.test")
	m := bridgetest.StartMosquittoWith(t, bridgetest.Options{Listener: f.MosquittoListener(true), Scheme: "tls"})
	forModes(t, func(t *testing.T, mode Mode) {
		u := newUpstream(t, Config{URL: m.URL(), Mode: mode, CAFile: f.CAFile, CertFile: f.ClientCert, KeyFile: f.ClientKey})
		s := upstreamtest.Open(t, u, info("direct-tls-"+mode.String(), true))
		s.MustSubscribe("direct/tls/"+mode.String(), 0) // the echo shows the broker decoded them
		const n = 300
		var dones []<-chan error
		for i := range n {
			dones = append(dones, s.PublishAsync(bridge.Message{Topic: "direct/tls/" + mode.String(), Payload: fmt.Appendf(nil, "%d", i)}))
		}
		for i, d := range dones {
			select {
			case err := <-d:
				if err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
			case <-time.After(timeout):
				t.Fatalf("publish %d: no completion", i)
			}
		}
		for i := range n {
			if got := s.Recv(timeout); string(got.Payload) != fmt.Sprint(i) {
				t.Fatalf("got %q, want %d", got.Payload, i)
			}
		}
		if directSent(u) == 0 {
			t.Fatal("no QoS 0 publish took the direct path over tls")
		}
	})
}
