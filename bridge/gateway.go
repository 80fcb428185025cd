package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge/state"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/session"
	"github.com/snbridge/snbridge/transport"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultMaxClients   = 10000
	DefaultEventQueue   = 65536
	DefaultInboundQueue = 256
)

// PredefinedTopic is one entry of the predefined topic id table
// (MQTT-SN 1.2 §6.7), as in the [[predefined]] sections of the config.
type PredefinedTopic struct {
	ID       uint16
	Topic    string
	ClientID string // "" = for every client
}

// Config configures a [Gateway]. It maps onto the [gateway], [[transport.*]]
// and [[predefined]] sections of the TOML config.
type Config struct {
	// Transports are the datagram transports served at once (UDP, XBee,
	// ...). Run closes them when it returns.
	Transports []transport.Conn
	// Upstream is where client sessions live. The caller runs its Run.
	Upstream Upstream
	// Session is the behaviour of every client session; its Predefined
	// field is ignored (the gateway fills it from Predefined below).
	Session session.Config
	// GatewayID is the GwId of ADVERTISE and GWINFO.
	GatewayID uint8
	// MaxClients limits the number of sessions (connected, asleep, or
	// kept for CleanSession=false); beyond it a CONNECT gets CONNACK with
	// return code 0x01 (congestion). 0 means DefaultMaxClients.
	MaxClients int
	// AdvertiseInterval is T_ADV: ADVERTISE is broadcast at start-up and
	// then at this interval on every transport that has a broadcast
	// address. 0 disables ADVERTISE. [MQTT-SN 1.2 §6.1]
	AdvertiseInterval time.Duration
	// Predefined is the table of predefined topic ids: global entries and
	// per-client ones.
	Predefined []PredefinedTopic
	// GatewayClientID is the client id of the upstream session the
	// gateway opens for QoS -1 publishes and for wills of clients without
	// an upstream session. "" means "snbridge-gw<GatewayID>".
	GatewayClientID string
	// EventQueue bounds the upstream deliveries waiting for the loop;
	// beyond it deliveries are dropped and counted. 0 means
	// DefaultEventQueue.
	EventQueue int
	// InboundQueue is the number of parsed datagrams each transport may
	// have waiting for the loop. 0 means DefaultInboundQueue.
	InboundQueue int
	// Credentials are per-client upstream credentials by MQTT-SN
	// ClientId; clients without an entry use the upstream's own.
	Credentials map[string]Credentials
	// State, if not nil, is where sessions that must survive a restart
	// are kept (see persist.go); Run restores them at start and runs the
	// store's writer. The caller opens and closes it.
	State *state.Store
	// StateFlush is how often changed sessions are written to State; 0
	// means DefaultStateFlush.
	StateFlush time.Duration
	// Logger receives the gateway's logs; the zero value is disabled.
	Logger zerolog.Logger
}

// Credentials are a username and password for one client's upstream
// session.
type Credentials struct {
	Username string
	Password string
}

// Gateway is an MQTT-SN gateway: see the package documentation. Create it
// with [New] and run it with [Gateway.Run].
type Gateway struct {
	cfg    Config
	log    zerolog.Logger
	badLog zerolog.Logger // sampled, for malformed input
	gwCID  string

	global    *predefTable
	perClient map[string]*predefTable

	stats counters
	q     eventQueue
	in    chan *inbound

	// Loop-owned state below; touched only by the loop goroutine.
	byKey   map[clientKey]*client
	byID    map[string]*client
	timers  deadlineHeap
	timer   *time.Timer
	timerAt time.Time
	effs    []session.Effect
	out     []byte // encoded packet
	inner   []byte // encoded inner packet of an encapsulation
	reply   mqttsn.Packet
	encap   mqttsn.Packet
	due     []*client
	gw      gwSession
	qos0Fn  func(error) // g.qos0Done, bound once
	ps      persister

	runMu   sync.Mutex
	running bool
}

// New checks cfg and returns a Gateway. It starts nothing.
func New(cfg Config) (*Gateway, error) {
	if len(cfg.Transports) == 0 {
		return nil, errors.New("bridge: no transport")
	}
	for i, t := range cfg.Transports {
		if t == nil {
			return nil, fmt.Errorf("bridge: transport %d is nil", i)
		}
	}
	if cfg.Upstream == nil {
		return nil, errors.New("bridge: no upstream")
	}
	if cfg.MaxClients < 0 || cfg.EventQueue < 0 || cfg.InboundQueue < 0 || cfg.AdvertiseInterval < 0 {
		return nil, errors.New("bridge: negative limit or interval")
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.EventQueue == 0 {
		cfg.EventQueue = DefaultEventQueue
	}
	if cfg.InboundQueue == 0 {
		cfg.InboundQueue = DefaultInboundQueue
	}
	if cfg.GatewayClientID == "" {
		cfg.GatewayClientID = "snbridge-gw" + strconv.Itoa(int(cfg.GatewayID))
	}
	global, perClient, err := buildPredefined(cfg.Predefined)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "bridge").Logger()
	g := &Gateway{
		cfg:       cfg,
		log:       log,
		badLog:    log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Second}),
		gwCID:     cfg.GatewayClientID,
		global:    global,
		perClient: perClient,
		in:        make(chan *inbound, cfg.InboundQueue*len(cfg.Transports)),
		byKey:     make(map[clientKey]*client),
		byID:      make(map[string]*client),
		out:       make([]byte, 0, 512),
		inner:     make([]byte, 0, 512),
	}
	g.q.init(cfg.EventQueue)
	g.qos0Fn = g.qos0Done
	return g, nil
}

// Run serves the transports until ctx is cancelled, then closes the
// transports and every upstream session the gateway opened, and returns
// nil. It may be called once.
func (g *Gateway) Run(ctx context.Context) error {
	g.runMu.Lock()
	if g.running {
		g.runMu.Unlock()
		return errors.New("bridge: gateway already run")
	}
	g.running = true
	g.runMu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, g.closeTransports)
	defer stop()

	g.startPersist()
	var wg sync.WaitGroup
	for i, t := range g.cfg.Transports {
		r := newReader(g, i, t)
		wg.Go(func() { r.run(ctx) })
	}
	g.log.Info().Int("transports", len(g.cfg.Transports)).Uint8("gw_id", g.cfg.GatewayID).Msg("gateway started")
	g.warnNoBroadcast()
	g.loop(ctx)
	g.stopPersist()
	cancel()
	g.closeTransports()
	wg.Wait()
	g.shutdown()
	g.log.Info().Msg("gateway stopped")
	return nil
}

// warnNoBroadcast says once, at start-up, on which transports ADVERTISE
// is configured but cannot be sent for want of a broadcast address.
// SEARCHGW is still answered there, to the sender. [MQTT-SN 1.2 §6.1]
func (g *Gateway) warnNoBroadcast() {
	if g.cfg.AdvertiseInterval <= 0 {
		return
	}
	for i, t := range g.cfg.Transports {
		if !t.BroadcastAddr().IsValid() {
			g.log.Warn().Int("transport", i).Stringer("addr", t.LocalAddr()).
				Dur("advertise_interval", g.cfg.AdvertiseInterval).
				Msg("no broadcast address: ADVERTISE and GWINFO broadcast disabled on this transport")
		}
	}
}

func (g *Gateway) closeTransports() {
	for _, t := range g.cfg.Transports {
		_ = t.Close() // closing twice is harmless; errors at shutdown say nothing useful
	}
}

// loop is the goroutine that owns all client state.
func (g *Gateway) loop(ctx context.Context) {
	g.timer = time.NewTimer(time.Hour)
	g.timer.Stop()
	defer g.timer.Stop()

	var adv <-chan time.Time
	if g.cfg.AdvertiseInterval > 0 {
		g.advertise()
		t := time.NewTicker(g.cfg.AdvertiseInterval)
		defer t.Stop()
		adv = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ib := <-g.in:
			g.handleInbound(ib)
			// Drain what else is waiting before re-arming the timer.
			for n := 0; n < 64; n++ {
				select {
				case ib = <-g.in:
					g.handleInbound(ib)
					continue
				default:
				}
				break
			}
		case <-g.q.notify:
			g.handleUpstreamEvents()
		case <-g.timer.C:
			g.timerAt = time.Time{}
			g.tick()
		case <-adv:
			g.advertise()
		case <-g.ps.c:
			g.flush(false)
		}
		g.armTimer()
	}
}

// shutdown closes the upstream sessions still open; run after the loop.
func (g *Gateway) shutdown() {
	for _, c := range g.byID {
		if c.up != nil {
			c.up.Close(false, noopDone)
			c.up = nil
		}
		if c.closing != nil {
			c.closing.Close(c.closeDiscard, noopDone)
			c.closing = nil
		}
		c.dropped = true
	}
	g.gw.close()
	g.stats.sessions.Store(0)
}

func noopDone()           {}
func noopErr(error)       {}
func noopMessage(Message) {}
