package bridgetest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const recvTimeout = 5 * time.Second

func TestMosquittoURL(t *testing.T) {
	m := StartMosquitto(t)
	if want := "tcp://" + m.Addr(); m.URL() != want {
		t.Errorf("URL() = %q, want %q", m.URL(), want)
	}
	host, _, err := net.SplitHostPort(m.Addr())
	if err != nil || host != "127.0.0.1" {
		t.Errorf("Addr() = %q, want 127.0.0.1:PORT (err %v)", m.Addr(), err)
	}
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
}

func TestPublishSubscribeQoS(t *testing.T) {
	m := StartMosquitto(t)
	for _, qos := range []byte{0, 1, 2} {
		ch := Subscribe(t, m.URL(), "bt/qos/#", qos)
		topic := "bt/qos/" + string('0'+qos)
		Publish(t, m.URL(), topic, []byte("hello"), qos, false)
		got := Recv(t, ch, recvTimeout)
		if got.Topic != topic || string(got.Payload) != "hello" || got.QoS != qos || got.Retained {
			t.Errorf("qos %d: got %+v", qos, got)
		}
	}
}

func TestRetained(t *testing.T) {
	m := StartMosquitto(t)
	Publish(t, m.URL(), "bt/retained", []byte("last"), 1, true)
	got := Recv(t, Subscribe(t, m.URL(), "bt/retained", 1), recvTimeout)
	if !got.Retained || string(got.Payload) != "last" {
		t.Errorf("got %+v, want retained %q", got, "last")
	}
}

func TestStopStartSamePort(t *testing.T) {
	m := StartMosquitto(t)
	addr := m.Addr()
	m.Stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded after Stop", addr)
	}
	m.Stop() // stopping twice is harmless
	m.Start()
	if m.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", m.Addr(), addr)
	}
	ch := Subscribe(t, m.URL(), "bt/restart", 1)
	Publish(t, m.URL(), "bt/restart", []byte("again"), 1, false)
	if got := Recv(t, ch, recvTimeout); string(got.Payload) != "again" {
		t.Errorf("got %+v", got)
	}
	if !strings.Contains(m.Logs(), "mosquitto stopped") {
		t.Errorf("log does not record the stop:\n%s", m.Logs())
	}
}

func TestPasswordFile(t *testing.T) {
	pw := WritePasswordFile(t, map[string]string{"alice": "secret"})
	m := StartMosquittoWith(t, Options{DenyAnonymous: true, Extra: "password_file " + pw})

	c := Connect(t, m.URL(), func(o *mqtt.ClientOptions) {
		o.SetUsername("alice").SetPassword("secret")
	})
	ch := SubscribeClient(t, c, "bt/auth", 1)
	PublishClient(t, c, "bt/auth", []byte("x"), 1, false)
	Recv(t, ch, recvTimeout)

	for _, tt := range []struct{ name, user, pass string }{
		{"anonymous", "", ""},
		{"wrong password", "alice", "wrong"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID(ClientID("bad")).
				SetUsername(tt.user).SetPassword(tt.pass).SetAutoReconnect(false)
			bad := mqtt.NewClient(opts)
			tok := bad.Connect()
			if !tok.WaitTimeout(recvTimeout) {
				t.Fatal("connect: no answer")
			}
			if tok.Error() == nil {
				bad.Disconnect(0)
				t.Fatal("connect succeeded, want refused")
			}
		})
	}
}

func TestTLSListener(t *testing.T) {
	f := WriteTLSFiles(t, "broker.test")
	m := StartMosquittoWith(t, Options{Listener: f.MosquittoListener(true), Scheme: "ssl"})
	if !strings.HasPrefix(m.URL(), "ssl://") {
		t.Fatalf("URL() = %q", m.URL())
	}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(f.CAFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("read CA: %v", err)
	}
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	c := Connect(t, m.URL(), func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "broker.test"})
	})
	ch := SubscribeClient(t, c, "bt/tls", 1)
	PublishClient(t, c, "bt/tls", []byte("secure"), 1, false)
	if got := Recv(t, ch, recvTimeout); string(got.Payload) != "secure" {
		t.Errorf("got %+v", got)
	}
}

// TestProxyCut: a cut closes the proxied connection (the client sees the
// loss), refuses new ones until Restore, and leaves the broker and its
// direct clients alone.
func TestProxyCut(t *testing.T) {
	m := StartMosquitto(t)
	p := StartProxy(t, m.Addr())
	direct := Subscribe(t, m.URL(), "bt/proxy", 1)
	lost := make(chan error, 1)
	c := Connect(t, p.URL(), func(o *mqtt.ClientOptions) {
		o.SetAutoReconnect(false)
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	})
	PublishClient(t, c, "bt/proxy", []byte("before"), 1, false)
	if got := Recv(t, direct, recvTimeout); string(got.Payload) != "before" {
		t.Fatalf("got %q through the proxy, want before", got.Payload)
	}
	if p.Conns() != 1 {
		t.Errorf("Conns() = %d, want 1", p.Conns())
	}
	p.Cut()
	select {
	case <-lost:
	case <-time.After(recvTimeout):
		t.Fatal("the client did not notice the cut")
	}
	c2 := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(p.URL()).SetClientID(ClientID("cut")).SetConnectTimeout(recvTimeout))
	if tok := c2.Connect(); tok.WaitTimeout(recvTimeout) && tok.Error() == nil {
		c2.Disconnect(0)
		t.Fatal("connected through a cut proxy")
	}
	Publish(t, m.URL(), "bt/proxy", []byte("direct"), 1, false)
	if got := Recv(t, direct, recvTimeout); string(got.Payload) != "direct" {
		t.Fatalf("direct subscriber got %q, want direct", got.Payload)
	}
	p.Restore()
	Publish(t, p.URL(), "bt/proxy", []byte("after"), 1, false)
	if got := Recv(t, direct, recvTimeout); string(got.Payload) != "after" {
		t.Fatalf("got %q after Restore, want after", got.Payload)
	}
}
