package bridgetest

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// opTimeout bounds every connect, subscribe and publish of the test client.
const opTimeout = 10 * time.Second

// Message is a message received by a test client.
type Message struct {
	Topic     string
	Payload   []byte // a copy, owned by the receiver
	QoS       byte
	Retained  bool
	Duplicate bool
}

var clientSeq atomic.Uint64

// ClientID returns a client id unique within this process and among
// concurrently running test binaries.
func ClientID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), clientSeq.Add(1))
}

// Connect connects a paho client to url (clean session, unique client id,
// no auto-reconnect) and disconnects it when the test ends. configure, if
// not nil, may change the options (credentials, TLS, client id) first.
func Connect(t testing.TB, url string, configure func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(ClientID("bridgetest")).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(opTimeout).
		SetOrderMatters(true)
	if configure != nil {
		configure(opts)
	}
	c := mqtt.NewClient(opts)
	wait(t, c.Connect(), "connect to "+url)
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// Subscribe connects a new client to url, subscribes it to filter at qos
// and returns the channel its messages arrive on, in arrival order. The
// client is disconnected when the test ends.
func Subscribe(t testing.TB, url, filter string, qos byte) <-chan Message {
	t.Helper()
	return SubscribeClient(t, Connect(t, url, nil), filter, qos)
}

// SubscribeClient subscribes c to filter at qos and returns the channel its
// messages arrive on. The channel is buffered; when the buffer is full the
// paho callback waits until the test reads or ends.
func SubscribeClient(t testing.TB, c mqtt.Client, filter string, qos byte) <-chan Message {
	t.Helper()
	ch := make(chan Message, 4096)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	handler := func(_ mqtt.Client, m mqtt.Message) {
		msg := Message{
			Topic:     m.Topic(),
			Payload:   append([]byte(nil), m.Payload()...),
			QoS:       m.Qos(),
			Retained:  m.Retained(),
			Duplicate: m.Duplicate(),
		}
		select {
		case ch <- msg:
		case <-stop:
		}
	}
	tok := c.Subscribe(filter, qos, handler)
	wait(t, tok, "subscribe "+filter)
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		if g := st.Result()[filter]; g == 0x80 {
			t.Fatalf("subscribe %s: refused by the broker", filter)
		}
	}
	return ch
}

// Publish connects a new client to url, publishes one message, waits until
// the broker acknowledged it as qos requires and disconnects.
func Publish(t testing.TB, url, topic string, payload []byte, qos byte, retain bool) {
	t.Helper()
	c := Connect(t, url, nil)
	PublishClient(t, c, topic, payload, qos, retain)
	c.Disconnect(250)
}

// PublishClient publishes one message with c and waits for its
// acknowledgement (for QoS 0: until it is written).
func PublishClient(t testing.TB, c mqtt.Client, topic string, payload []byte, qos byte, retain bool) {
	t.Helper()
	wait(t, c.Publish(topic, qos, retain, payload), "publish "+topic)
}

// Recv returns the next message from ch, failing the test when none
// arrives within timeout.
func Recv(t testing.TB, ch <-chan Message, timeout time.Duration) Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-ch:
		return m
	case <-timer.C:
		t.Fatalf("no message within %v", timeout)
		return Message{}
	}
}

func wait(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(opTimeout) {
		t.Fatalf("%s: no answer within %v", what, opTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
