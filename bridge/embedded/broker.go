package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
)

// Errors returned to completions.
var (
	// ErrClosed: the broker is not running any more.
	ErrClosed = errors.New("embedded: broker closed")
	// ErrSessionClosed: the session was closed or taken over by a newer
	// Open with the same client id.
	ErrSessionClosed = errors.New("embedded: session closed")
)

// Defaults for the zero Config fields.
const (
	DefaultMaxQueued  = 1 << 16
	DefaultMaxPending = 1000
)

// Config configures a [Broker].
type Config struct {
	// Listen is the host:port of the TCP listener for local MQTT clients;
	// "" means no listener. Port 0 picks a free port (see [Broker.Addr]).
	Listen string
	// MaxQueued bounds the messages waiting to be handed to sessions;
	// 0 means DefaultMaxQueued.
	MaxQueued int
	// MaxPending bounds the QoS 1 and 2 messages kept per detached
	// persistent session; 0 means DefaultMaxPending.
	MaxPending int
	// StorePath is the bbolt file (data_dir/broker.db) where mochi's
	// storage hook keeps retained messages and local MQTT clients'
	// persistent sessions across restarts; "" keeps them in memory only.
	StorePath string
	// Logger receives the broker's and mochi's logs; zero is disabled.
	Logger zerolog.Logger
}

// Broker is the embedded MQTT broker. Create it with [New], then call
// [Broker.Run].
type Broker struct {
	cfg Config
	log zerolog.Logger
	srv *mqtt.Server
	tcp *listeners.TCP // nil without a listener

	started chan struct{} // closed once the listener is bound and mochi serves
	running atomic.Bool
	logOff  atomic.Bool // set when Run returns; silences mochi's stragglers

	// Queues, guarded by mu. The worker takes operations in chunks from
	// ops[opsHead:] and swaps dels out whole.
	mu      sync.Mutex
	ops     []item
	opsHead int
	dels    []delivery
	stopped bool // Run has returned; no further items
	wake    chan struct{}

	dropped atomic.Uint64
	nextID  atomic.Int64 // inline subscription ids

	// Worker-owned.
	clients map[string]*client
}

// New returns a broker configured by cfg. It starts nothing and binds no
// port; [Broker.Run] does.
func New(cfg Config) (*Broker, error) {
	if cfg.MaxQueued < 0 || cfg.MaxPending < 0 {
		return nil, fmt.Errorf("embedded: negative queue limit")
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	b := &Broker{
		cfg:     cfg,
		log:     cfg.Logger.With().Str("component", "bridge/embedded").Logger(),
		started: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		clients: make(map[string]*client),
	}
	mlog := cfg.Logger.With().Str("component", "mochi").Logger()
	b.srv = mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(gatedHandler{h: zerolog.NewSlogHandler(mlog), off: &b.logOff}),
	})
	if err := b.srv.AddHook(new(allowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded: add auth hook: %w", err)
	}
	if cfg.StorePath != "" {
		if err := b.addStore(cfg.StorePath); err != nil {
			return nil, err
		}
	}
	if cfg.Listen != "" {
		b.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Listen})
	}
	return b, nil
}

// Server returns the mochi server, for hooks (persistence, status topic)
// added before [Broker.Run].
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Started is closed once Run has bound the listener and the broker serves.
func (b *Broker) Started() <-chan struct{} { return b.started }

// Addr returns the listener's bound address (after [Broker.Started]), or
// the configured one before; "" without a listener.
func (b *Broker) Addr() string {
	if b.tcp == nil {
		return ""
	}
	return b.tcp.Address()
}

// Dropped returns how many messages for sessions were dropped because the
// delivery queue or a detached session's buffer was full.
func (b *Broker) Dropped() uint64 { return b.dropped.Load() }

// Run binds the listener, serves until ctx is cancelled, then closes every
// session and the server and returns nil. It returns an error when the
// listener cannot be bound or Run is called twice.
func (b *Broker) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("embedded: Run called twice")
	}
	if err := b.serve(); err != nil {
		b.shutdown()
		return err
	}
	b.log.Info().Str("addr", b.Addr()).Msg("embedded broker started")
	close(b.started)
	b.work(ctx)
	b.closeAll()
	b.shutdown()
	b.log.Info().Msg("embedded broker stopped")
	return nil
}

// serve binds the listener and starts mochi.
func (b *Broker) serve() error {
	if b.tcp != nil {
		if err := b.srv.AddListener(b.tcp); err != nil {
			return fmt.Errorf("embedded: listen %s: %w", b.cfg.Listen, err)
		}
	}
	if err := b.srv.Serve(); err != nil {
		if b.cfg.StorePath != "" {
			return fmt.Errorf("embedded: serve: %w (reading broker store %s: if it is damaged, move it away %s)", err, b.cfg.StorePath, storeFormat.Fresh)
		}
		return fmt.Errorf("embedded: serve: %w", err)
	}
	return nil
}

// shutdown fails what is still queued, refuses further operations and
// closes mochi.
func (b *Broker) shutdown() {
	for _, it := range b.stop() {
		it.done.Fail(ErrClosed)
	}
	_ = b.srv.Close()
	b.logOff.Store(true)
}

// stop marks the broker stopped and returns the items still queued.
func (b *Broker) stop() []item {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	q := b.ops[b.opsHead:]
	b.ops, b.opsHead, b.dels = nil, 0, nil
	return q
}

// Open implements [bridge.Upstream].
func (b *Broker) Open(info bridge.ClientInfo, deliver func(bridge.Message), done func(bridge.Session, error)) {
	b.enqueue(item{kind: opOpen, info: info, deliver: deliver, done: bridge.Completion{Open: done}})
}

// allowHook lets every local MQTT client connect and use every topic, like
// mochi's auth.AllowHook (whose package drags in a YAML dependency).
type allowHook struct{ mqtt.HookBase }

func (*allowHook) ID() string { return "allow-all" }

func (*allowHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
