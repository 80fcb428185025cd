package paho

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
)

// Errors given to completions.
var (
	// ErrClosed: the upstream is not running any more.
	ErrClosed = errors.New("paho: upstream closed")
	// ErrSessionClosed: the operation was issued on, or overtaken by, a
	// closed session.
	ErrSessionClosed = errors.New("paho: session closed")
	// ErrUpstreamDown: the shared connection (aggregating mode) did not
	// come up within Config.OpenTimeout.
	ErrUpstreamDown = errors.New("paho: upstream connection down")
	// ErrRefused: the broker refused a subscription (return code 0x80).
	ErrRefused = errors.New("paho: subscription refused by the broker")
	// ErrConnectionLost: the operation was issued on a clean connection
	// (a transparent CleanSession=true session, or the aggregating shared
	// connection) that was lost before the broker acknowledged it, or
	// while it was down. The broker has no session to resume it from, so
	// it is not sent again: the caller owns the retry (the failover spools
	// it; the gateway answers congestion and the sensor retries).
	ErrConnectionLost = errors.New("paho: upstream connection lost")
)

// Upstream is a remote MQTT broker reached through paho.mqtt.golang, in
// transparent or aggregating mode. It implements [bridge.Upstream].
type Upstream struct {
	cfg Config
	log zerolog.Logger
	url string      // in paho's spelling
	tls *tls.Config // nil for tcp

	running atomic.Bool
	stop    chan struct{} // closed when Run shuts down
	wg      sync.WaitGroup

	mu       sync.Mutex
	stopped  bool
	sessions map[*tsession]struct{} // transparent mode

	agg *aggregator // aggregating mode
}

var _ bridge.Upstream = (*Upstream)(nil)

// New checks cfg and returns an Upstream. It reads the TLS files but
// connects nothing; Open (transparent) and Run (aggregating) do.
func New(cfg Config) (*Upstream, error) {
	cfg.setDefaults()
	u := &Upstream{
		cfg:      cfg,
		stop:     make(chan struct{}),
		sessions: make(map[*tsession]struct{}),
	}
	var isTLS bool
	var err error
	if u.url, isTLS, err = brokerURL(cfg.URL); err != nil {
		return nil, err
	}
	if isTLS {
		if u.tls, err = cfg.tlsConfig(); err != nil {
			return nil, err
		}
	} else if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		return nil, fmt.Errorf("paho: url %q: ca, cert and key files need a tls:// url", cfg.URL)
	}
	if cfg.MaxPending < 0 {
		return nil, fmt.Errorf("paho: max pending %d: must not be negative", cfg.MaxPending)
	}
	if cfg.Mode != Transparent && cfg.Mode != Aggregating {
		return nil, fmt.Errorf("paho: unknown mode %d", cfg.Mode)
	}
	u.log = cfg.Logger.With().Str("component", "bridge/paho").Str("upstream", u.url).Logger()
	if cfg.Mode == Aggregating {
		u.agg = newAggregator(u)
	}
	return u, nil
}

// Mode returns the upstream's mode.
func (u *Upstream) Mode() Mode { return u.cfg.Mode }

// Dropped returns how many QoS 1 and 2 messages for disconnected
// persistent sessions were dropped because Config.MaxPending were kept
// for the session already (aggregating mode; 0 in transparent mode, where
// the broker keeps them).
func (u *Upstream) Dropped() uint64 {
	if u.agg == nil {
		return 0
	}
	return u.agg.dropped.Load()
}

// Open implements [bridge.Upstream]. Transparent mode connects a new MQTT
// client; a failed connection completes with an error. Aggregating mode
// completes at once when the shared connection is up, else when it comes
// up, or with [ErrUpstreamDown] after Config.OpenTimeout.
func (u *Upstream) Open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	if u.agg != nil {
		u.agg.open(info, deliver, done)
		return
	}
	u.openTransparent(info, deliver, done)
}

// Run implements [bridge.Upstream]: in aggregating mode it keeps the
// shared connection up; in both modes it closes every session (without
// discarding broker-side state) when ctx is cancelled and waits for its
// goroutines. Operations issued after Run returned complete with
// [ErrClosed] on the caller's goroutine.
func (u *Upstream) Run(ctx context.Context) error {
	if !u.running.CompareAndSwap(false, true) {
		return errors.New("paho: Run called twice")
	}
	u.log.Info().Stringer("mode", u.cfg.Mode).Msg("upstream started")
	if u.agg != nil {
		u.agg.run(ctx)
	} else {
		<-ctx.Done()
	}
	u.mu.Lock()
	u.stopped = true
	u.mu.Unlock()
	close(u.stop)
	u.wg.Wait()
	u.log.Info().Msg("upstream stopped")
	return nil
}

// track registers a goroutine about to start; false once Run is stopping.
func (u *Upstream) track() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped {
		return false
	}
	u.wg.Add(1)
	return true
}

// clientOptions returns the options shared by all connections.
// A clean connection (resend false) is not reconnected by paho: paho's
// reconnect keeps the lost connection's QoS 1 and 2 messages in its store
// and resends them to a broker that has no session for them (a QoS 2
// PUBREL is answered with PUBCOMP although the message never reached
// anyone, and a resent PUBLISH completes the old token at once); the
// engine reconnects it itself instead, after failing what was in flight.
func (u *Upstream) clientOptions(id, user, pass string, resend bool) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(u.url).
		SetClientID(id).
		SetUsername(user).
		SetPassword(pass).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		// paho's Publish waits up to WriteTimeout (30 s by default) to
		// hand a message to a connection that was lost just after it
		// looked, and the completer with it; it also bounds a write.
		SetWriteTimeout(u.cfg.ConnectTimeout).
		SetAutoReconnect(resend).
		SetMaxReconnectInterval(u.cfg.MaxReconnectInterval).
		// Our handlers only hand the message on without blocking, so
		// paho may call them on its router goroutine: that keeps the
		// broker's order and avoids paho's goroutine per message that
		// SetOrderMatters(false) means.
		SetOrderMatters(true).
		// Packets written in quick succession leave in one write(2).
		SetCustomOpenConnectionFn(openCoalesced)
	if u.tls != nil {
		o.SetTLSConfig(u.tls)
	}
	return o
}

type opKind uint8

const (
	opOpen opKind = iota
	opPublish
	opSubscribe
	opUnsubscribe
	opClose
	opReconnected // the connection is back: resubscribe (no completion)
	opResubscribe // one filter of that; no completion, failures are logged
	opLost        // a clean connection was lost: later ops may reconnect (no completion)
)

// op is one issued operation waiting for its completion.
type op struct {
	kind    opKind
	tok     token          // nil: nothing to wait for
	err     error          // known failure
	qos     byte           // requested QoS (subscribe)
	epoch   uint64         // aggregating subscribe: its filter's epoch
	conn    uint64         // publish: connections made before it was issued
	gen     uint64         // clean connection losses handled when it was pushed
	keep    bool           // publish: paho keeps it for a resumed session (CleanSession=false)
	msg     bridge.Message // publish, until issued
	filter  string
	discard bool
	as      *asession // aggregating mode
	done    bridge.Completion
}

// result is the outcome of a completed op.
func (o *op) result() error {
	if o.err != nil || o.tok == nil {
		return o.err
	}
	return o.tok.Error()
}

// lostResult is result for a publish on a clean connection: a paho
// failure (connection lost before the acknowledgement, not connected,
// write timeout) means the broker may not have the message and nobody
// will send it again: [ErrConnectionLost].
func (o *op) lostResult() error {
	if o.err != nil || o.tok == nil {
		return o.err
	}
	return lost(o.tok.Error())
}

// lost wraps a paho publish failure on a clean connection.
func lost(err error) error {
	if err == nil || errors.Is(err, ErrConnectionLost) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, err)
}

// granted returns the QoS the broker granted for filter.
func granted(tok token, filter string, asked byte) (byte, error) {
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return asked, nil
	}
	g, ok := st.Result()[filter]
	if !ok {
		return asked, nil
	}
	if g == 0x80 {
		return 0x80, ErrRefused
	}
	return g, nil
}
