package paho

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/bridge"
)

// directClient is a paho client whose QoS 0 publishes may skip paho: the
// PUBLISH packet is encoded straight into the connection's coalescing
// buffer (no token, no packet structs, no hand-over to paho's writer
// goroutine), which is most of the gateway's cost per QoS 0 message.
//
// Order: paho writes what it is handed in order, on its own goroutine. A
// direct write could overtake a packet paho has been handed but not yet
// written, so publish0 only writes directly when the latest token handed
// to paho (Publish, Subscribe, Unsubscribe, of any QoS) is done, i.e.
// written (a QoS 0 token) or acknowledged; otherwise the message goes
// through paho as before. Connection: only on the connection paho opened
// last, once paho reports it open and has written its CONNECT on it
// ([MQTT 3.1.1 §3.1.4]: a client may send packets right after CONNECT).
//
// Concurrency: publish0 is called on the engine's completer goroutine;
// the tracking of paho's tokens is safe from any goroutine.
type directClient struct {
	mqtt.Client
	conn atomic.Pointer[coalescingConn] // the latest connection opened
	sent atomic.Uint64                  // QoS 0 publishes written directly

	mu   sync.Mutex
	last mqtt.Token // the latest token paho was handed
}

// newDirectClient builds the paho client from o, with its connections
// opened by openCoalesced and remembered for publish0.
func newDirectClient(o *mqtt.ClientOptions) *directClient {
	d := &directClient{}
	o.SetCustomOpenConnectionFn(d.open)
	d.Client = mqtt.NewClient(o)
	return d
}

func (d *directClient) open(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	c, err := openCoalesced(uri, o)
	if err != nil {
		return nil, err
	}
	d.conn.Store(c.(*coalescingConn))
	return c, nil
}

func (d *directClient) handed(t mqtt.Token) mqtt.Token {
	d.mu.Lock()
	d.last = t
	d.mu.Unlock()
	return t
}

// Publish, Subscribe, SubscribeMultiple and Unsubscribe hand the packet
// to paho and remember its token.
func (d *directClient) Publish(topic string, qos byte, retained bool, payload any) mqtt.Token {
	return d.handed(d.Client.Publish(topic, qos, retained, payload))
}

func (d *directClient) Subscribe(topic string, qos byte, cb mqtt.MessageHandler) mqtt.Token {
	return d.handed(d.Client.Subscribe(topic, qos, cb))
}

func (d *directClient) SubscribeMultiple(filters map[string]byte, cb mqtt.MessageHandler) mqtt.Token {
	return d.handed(d.Client.SubscribeMultiple(filters, cb))
}

func (d *directClient) Unsubscribe(topics ...string) mqtt.Token {
	return d.handed(d.Client.Unsubscribe(topics...))
}

// publish0 writes m (QoS 0) straight onto the connection when that keeps
// the order (see the type's doc). sent false: nothing was written, send m
// through paho. sent true with an error: the connection failed; m is lost.
func (d *directClient) publish0(m bridge.Message) (sent bool, err error) {
	if m.QoS != 0 {
		return false, nil
	}
	d.mu.Lock()
	last := d.last
	d.mu.Unlock()
	if last != nil && !isDone(last) {
		return false, nil
	}
	c := d.conn.Load() // before the open check: a later connection is not open yet
	if c == nil || !d.Client.IsConnectionOpen() {
		return false, nil
	}
	sent, err = c.writePublish0(m.Topic, m.Payload, m.Retain)
	if sent && err == nil {
		d.sent.Add(1)
	}
	return sent, err
}
