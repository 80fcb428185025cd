package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/mqttsn/client/cli"
	"github.com/snbridge/snbridge/transport"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type options struct {
	host, broker     string
	port             int
	clients          int
	rate             float64
	qos              int
	size             int
	duration         cli.Duration
	topicKind        string
	scenario         string
	json             bool
	pid              int
	predefinedID     int
	predefinedTopic  string
	prefix           string
	drain            cli.Duration
	concurrency      int
	subscribers      int
	keepAlive        cli.Duration
	sleepClients     bool
	timeout          cli.Duration
	progressInterval time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, int) {
	o := &options{duration: cli.Duration(10 * time.Second), drain: cli.Duration(3 * time.Second),
		keepAlive: cli.Duration(5 * time.Minute), timeout: cli.Duration(10 * time.Second), progressInterval: time.Second}
	fs := flag.NewFlagSet("mqttsn-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.host, "h", "127.0.0.1", "gateway `host`")
	fs.IntVar(&o.port, "p", 1884, "gateway UDP `port`")
	fs.StringVar(&o.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker `url` the gateway forwards to, where the bench counts (publish) or publishes (fanout)")
	fs.IntVar(&o.clients, "clients", 10, "concurrent MQTT-SN clients `N`")
	fs.Float64Var(&o.rate, "rate", 0, "messages per second in total (`R`); 0 = unpaced")
	fs.IntVar(&o.qos, "qos", 0, "`QoS` -1, 0, 1 or 2")
	fs.IntVar(&o.size, "size", 32, "payload size in `bytes` (at least 16: send time, client, sequence)")
	fs.Var(&o.duration, "duration", "how long to send (publish, fanout) or hold the connections (`D`)")
	fs.StringVar(&o.topicKind, "topic-kind", "registered", "registered | predefined | short")
	fs.StringVar(&o.scenario, "scenario", "publish", "publish | connections | fanout | broker (MQTT clients straight to the broker: the ceiling without the gateway)")
	fs.BoolVar(&o.json, "json", false, "write the report as JSON on stdout")
	fs.IntVar(&o.pid, "pid", 0, "gateway process `id`: report its CPU % and resident memory")
	fs.IntVar(&o.predefinedID, "predefined-id", 1, "topic `id` for --topic-kind predefined (configured at the gateway)")
	fs.StringVar(&o.predefinedTopic, "predefined-topic", "bench/predefined", "MQTT `topic` the gateway maps --predefined-id to")
	fs.StringVar(&o.prefix, "prefix", fmt.Sprintf("bench/%d", os.Getpid()), "topic `prefix` of registered topics")
	fs.Var(&o.drain, "drain", "after sending, wait at most this long for the last deliveries")
	fs.IntVar(&o.concurrency, "concurrency", 100, "clients connecting at the same time")
	fs.IntVar(&o.subscribers, "subscribers", 2, "counting MQTT subscriber connections `K` (registered topics: client i's topic on connection i mod K)")
	fs.Var(&o.keepAlive, "k", "keep-alive of the clients (connections: also the sleep duration)")
	fs.BoolVar(&o.sleepClients, "sleep-clients", false, "connections: send every client to sleep after CONNECT")
	fs.Var(&o.timeout, "W", "wait at most this long for each answer of the gateway")
	if code, ok := cli.ParseArgs(fs, args, "mqttsn-bench", "mqttsn-bench [--scenario publish|connections|fanout] [options]",
		func() error { return o.check(fs) }, stderr); !ok {
		return nil, code
	}
	return o, -1
}

func (o *options) check(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.clients < 1:
		return errors.New("--clients must be at least 1")
	case o.rate < 0:
		return errors.New("--rate must not be negative")
	case o.size < headerLen || o.size > 60000:
		return fmt.Errorf("--size must be %d..60000", headerLen)
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.subscribers < 1:
		return errors.New("--subscribers must be at least 1")
	}
	if _, err := cli.ParseQoS(o.qos, true); err != nil {
		return err
	}
	switch o.scenario {
	case "publish", "connections", "fanout", "broker":
	default:
		return fmt.Errorf("--scenario %q: publish, connections, fanout or broker", o.scenario)
	}
	switch o.topicKind {
	case "registered", "predefined", "short":
	default:
		return fmt.Errorf("--topic-kind %q: registered, predefined or short", o.topicKind)
	}
	if o.qos == -1 && (o.topicKind == "registered" || o.scenario != "publish") {
		return errors.New("QoS -1 publishes without CONNECT: use --scenario publish with --topic-kind predefined or short")
	}
	return nil
}

// Report is what a run measured; --json writes it as is.
type Report struct {
	Scenario    string   `json:"scenario"`
	Clients     int      `json:"clients"`
	QoS         int      `json:"qos"`
	Size        int      `json:"size"`
	TopicKind   string   `json:"topic_kind"`
	RateTarget  float64  `json:"rate_target"` // 0 = unpaced
	DurationS   float64  `json:"duration_s"`  // the send (or hold) window
	Sent        int64    `json:"sent"`        // messages (fanout: expected deliveries; connections: CONNECTs)
	Delivered   int64    `json:"delivered"`   // unique deliveries (connections: CONNACKs accepted)
	Lost        int64    `json:"lost"`        // sent - delivered
	LossPercent float64  `json:"loss_percent"`
	Duplicates  int64    `json:"duplicates"`
	OutOfOrder  int64    `json:"out_of_order"`
	Errors      int64    `json:"errors"` // failed sends, refusals, timeouts
	FirstError  string   `json:"first_error,omitempty"`
	Rate        float64  `json:"rate"`      // delivered per second
	SendRate    float64  `json:"send_rate"` // sent per second
	Latency     Latency  `json:"latency_ms"`
	ConnectRate float64  `json:"connect_rate,omitempty"` // CONNACKs per second
	Gateway     *Gateway `json:"gateway,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if o == nil {
		return code
	}
	b := &bench{o: o, stderr: stderr}
	var rep *Report
	var err error
	switch o.scenario {
	case "publish":
		rep, err = b.publish(ctx)
	case "connections":
		rep, err = b.connections(ctx)
	case "fanout":
		rep, err = b.fanout(ctx)
	case "broker":
		rep, err = b.baseline(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mqttsn-bench: %s\n", cli.Words(err))
		return exitFail
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "mqttsn-bench: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	writeText(stdout, rep)
	return exitOK
}

// bench holds what the scenarios share.
type bench struct {
	o      *options
	stderr io.Writer

	sent   atomic.Int64
	errs   atomic.Int64
	errMu  sync.Mutex
	first  error
	before procSample
}

func (b *bench) fail(err error) {
	b.errs.Add(1)
	b.errMu.Lock()
	if b.first == nil {
		b.first = err
	}
	b.errMu.Unlock()
}

func (b *bench) gateway(ctx context.Context) (transport.Addr, error) {
	ap, err := netip.ParseAddr(b.o.host)
	if err != nil {
		return transport.Addr{}, fmt.Errorf("-h %q: an IP address is needed", b.o.host)
	}
	if b.o.port <= 0 || b.o.port > 65535 {
		return transport.Addr{}, fmt.Errorf("-p %d out of range", b.o.port)
	}
	return transport.UDPAddr(netip.AddrPortFrom(ap, uint16(b.o.port))), nil
}

// dial opens one client on its own UDP socket.
func (b *bench) dial(gw transport.Addr, i int, onMsg func(client.Message)) (*client.Client, error) {
	conn, err := cli.ListenUDP(gw.AddrPort())
	if err != nil {
		return nil, err
	}
	return client.Open(conn, client.Config{
		Gateway:      gw,
		ClientID:     clientID(i),
		KeepAlive:    time.Duration(b.o.keepAlive),
		CleanSession: true,
		OnMessage:    onMsg,
		ReadBuffer:   max(512, b.o.size+64),
	}), nil
}

// clientID is "bench-PID-I" cut to the 23 octets MQTT-SN allows.
func clientID(i int) string {
	id := fmt.Sprintf("b%d-%d", os.Getpid(), i)
	if len(id) > mqttsn.MaxClientIDLen {
		id = id[len(id)-mqttsn.MaxClientIDLen:]
	}
	return id
}

// request runs f with the -W timeout.
func (b *bench) request(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(b.o.timeout))
	defer cancel()
	return f(ctx)
}

// forEach runs f for 0..n-1 with --concurrency goroutines and waits.
func (b *bench) forEach(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, b.o.concurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// mqttClient connects a paho client to --broker. onMessage, when not nil,
// is its default publish handler: subscriptions made without a handler
// reach it without paho's per-route topic matching.
func (b *bench) mqttClient(role string, onMessage mqtt.MessageHandler) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(b.o.broker).
		SetClientID(fmt.Sprintf("mqttsn-bench-%s-%d", role, os.Getpid())).
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(true).
		SetConnectTimeout(time.Duration(b.o.timeout)).SetMessageChannelDepth(10000)
	if onMessage != nil {
		opts.SetDefaultPublishHandler(onMessage)
	}
	c := mqtt.NewClient(opts)
	if err := waitToken(c.Connect(), time.Duration(b.o.timeout)); err != nil {
		return nil, fmt.Errorf("connect to broker %s: %w", b.o.broker, err)
	}
	return c, nil
}

func waitToken(tok mqtt.Token, d time.Duration) error {
	if !tok.WaitTimeout(d) {
		return errors.New("no answer from broker")
	}
	return tok.Error()
}

// sampleGateway reads the gateway's /proc entries when --pid is set.
func (b *bench) sampleGateway() (procSample, error) {
	if b.o.pid == 0 {
		return procSample{}, nil
	}
	return readProc(b.o.pid)
}

// finish fills the common fields of a report.
func (b *bench) finish(rep *Report, tr *tracker, start, end time.Time) {
	o := b.o
	rep.Scenario, rep.Clients, rep.QoS, rep.Size, rep.TopicKind = o.scenario, o.clients, o.qos, o.size, o.topicKind
	rep.RateTarget = o.rate
	rep.DurationS = round2(end.Sub(start).Seconds())
	rep.Errors = b.errs.Load()
	if b.first != nil {
		rep.FirstError = cli.Words(b.first)
	}
	if tr != nil {
		var last time.Time
		rep.Delivered, rep.Duplicates, rep.OutOfOrder, _, rep.Latency, last = tr.snapshot()
		window := end.Sub(start)
		if last.After(end) {
			window = last.Sub(start)
		}
		if window > 0 {
			rep.Rate = round2(float64(rep.Delivered) / window.Seconds())
		}
	}
	rep.Lost = max(rep.Sent-rep.Delivered, 0)
	if rep.Sent > 0 {
		rep.LossPercent = float64(int64(float64(rep.Lost)/float64(rep.Sent)*1e6+0.5)) / 1e4
		if d := end.Sub(start); d > 0 {
			rep.SendRate = round2(float64(rep.Sent) / d.Seconds())
		}
	}
}

// writeText prints the report for a person.
func writeText(w io.Writer, r *Report) {
	rate := "unpaced"
	if r.RateTarget > 0 {
		rate = fmt.Sprintf("%g msg/s", r.RateTarget)
	}
	fmt.Fprintf(w, "scenario %s: %d clients, QoS %d, %d B payload, %s topics, %s, %.2fs\n",
		r.Scenario, r.Clients, r.QoS, r.Size, r.TopicKind, rate, r.DurationS)
	fmt.Fprintf(w, "sent          %d (%.0f/s)\n", r.Sent, r.SendRate)
	fmt.Fprintf(w, "delivered     %d (%.0f/s)\n", r.Delivered, r.Rate)
	fmt.Fprintf(w, "lost          %d (%.4f%%)\n", r.Lost, r.LossPercent)
	fmt.Fprintf(w, "duplicates    %d\n", r.Duplicates)
	fmt.Fprintf(w, "out of order  %d\n", r.OutOfOrder)
	if r.ConnectRate > 0 {
		fmt.Fprintf(w, "connect rate  %.0f/s\n", r.ConnectRate)
	}
	fmt.Fprintf(w, "latency ms    p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if r.Errors > 0 {
		fmt.Fprintf(w, "errors        %d (first: %s)\n", r.Errors, r.FirstError)
	}
	if g := r.Gateway; g != nil {
		fmt.Fprintf(w, "gateway       pid %d  cpu %.1f%%  rss %.1f MB (peak %.1f, before %.1f)", g.Pid, g.CPUPercent, g.RSSMB, g.RSSPeakMB, g.RSSBeforeMB)
		if g.RSSPerClientKB > 0 {
			fmt.Fprintf(w, "  %.2f KB/client", g.RSSPerClientKB)
		}
		if g.CPUMicrosPerMsg > 0 {
			fmt.Fprintf(w, "  %.2f µs CPU/msg  udp drops %d", g.CPUMicrosPerMsg, g.UDPDrops)
		}
		fmt.Fprintln(w)
	}
}

// progress prints a live line on stderr while f runs, when stderr is a
// terminal; elsewhere it prints nothing.
func (b *bench) progress(ctx context.Context, what func() string) (stop func()) {
	f, ok := b.stderr.(*os.File)
	if !ok || !isTerminal(f) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(b.o.progressInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				fmt.Fprintf(f, "\r%s\n", what())
				return
			case <-t.C:
				fmt.Fprintf(f, "\r%s   ", what())
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && !strings.HasPrefix(os.Getenv("TERM"), "dumb")
}
