package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/client"
	"github.com/snbridge/snbridge/transport"
)

// shortTopic is the short topic name of --topic-kind short.
const shortTopic = "bz"

// minSleep is the shortest pause of a paced sender: at higher rates it
// sends the messages that fell due during the pause back to back, rather
// than paying a timer wake-up per message.
const minSleep = time.Millisecond

// pace waits until message seq is due: start + seq*interval (interval 0
// = unpaced). Send times are stamped after the wait, so bursts do not
// inflate latency.
func pace(start time.Time, interval time.Duration, seq uint32) {
	if interval <= 0 {
		return
	}
	if d := time.Until(start.Add(time.Duration(seq) * interval)); d > 0 {
		time.Sleep(max(d, minSleep))
	}
}

// publish runs the publish scenario: N clients publish, an MQTT
// subscriber at the broker counts.
func (b *bench) publish(ctx context.Context) (*Report, error) {
	o := b.o
	gw, err := b.gateway(ctx)
	if err != nil {
		return nil, err
	}
	tr := newTracker(o.clients)
	subs, err := b.subscribe(tr)
	if err != nil {
		return nil, err
	}
	defer disconnectAll(subs)

	clients, topics := b.setupPublishers(ctx, gw)
	defer b.closeAll(ctx, clients, o.qos != -1)
	if b.count(clients) == 0 {
		return nil, fmt.Errorf("no client could start: %w", b.first)
	}

	before, err := b.sampleGateway()
	if err != nil {
		return nil, err
	}
	drops0, dropsErr := udpDrops(o.port)
	start := time.Now()
	end := start.Add(time.Duration(o.duration))
	stop := b.progress(ctx, func() string {
		return fmt.Sprintf("sent %d  delivered %d  errors %d  %.0fs", b.sent.Load(), tr.delivered.Load(), b.errs.Load(), time.Since(start).Seconds())
	})
	var wg sync.WaitGroup
	for i, c := range clients {
		if c != nil {
			wg.Go(func() { b.publishLoop(ctx, c, i, topics[i], start, end) })
		}
	}
	wg.Wait()
	sendEnd := time.Now()
	after, _ := b.sampleGateway()
	b.drainWait(ctx, tr, b.sent.Load)
	stop()

	rep := &Report{Sent: b.sent.Load()}
	b.finish(rep, tr, start, sendEnd)
	if o.pid != 0 {
		rep.Gateway = gatewayUse(o.pid, before, after)
		rep.Gateway.perMessage(before, after, rep.Sent)
		if drops1, err := udpDrops(o.port); err == nil && dropsErr == nil {
			rep.Gateway.UDPDrops = drops1 - drops0
		}
	}
	return rep, nil
}

// subscribe connects the counting MQTT subscribers: one on the topic of
// --topic-kind, or, for registered topics with --subscribers K > 1, K
// connections sharing the per-client topics (client i's on connection
// i mod K, so that each client's messages keep their order).
func (b *bench) subscribe(tr *tracker) ([]mqtt.Client, error) {
	o := b.o
	handler := func(_ mqtt.Client, m mqtt.Message) { tr.record(m.Payload(), time.Now()) }
	filters := [][]string{{o.prefix + "/#"}}
	switch {
	case o.topicKind == "predefined" && o.scenario == "publish":
		filters = [][]string{{o.predefinedTopic}}
	case o.topicKind == "short" && o.scenario == "publish":
		filters = [][]string{{shortTopic}}
	case o.subscribers > 1:
		filters = make([][]string, min(o.subscribers, o.clients))
		for i := range o.clients {
			filters[i%len(filters)] = append(filters[i%len(filters)], o.prefix+"/c"+strconv.Itoa(i))
		}
	}
	var subs []mqtt.Client
	for k, fs := range filters {
		c, err := b.mqttClient("sub"+strconv.Itoa(k), handler)
		if err != nil {
			disconnectAll(subs)
			return nil, err
		}
		subs = append(subs, c)
		m := make(map[string]byte, len(fs))
		for _, f := range fs {
			m[f] = byte(max(o.qos, 0))
		}
		if err := waitToken(c.SubscribeMultiple(m, nil), time.Duration(o.timeout)); err != nil {
			disconnectAll(subs)
			return nil, fmt.Errorf("subscribe %v at the broker: %w", fs, err)
		}
	}
	return subs, nil
}

func disconnectAll(cs []mqtt.Client) {
	for _, c := range cs {
		c.Disconnect(250)
	}
}

// setupPublishers opens, connects and registers every client; a client
// that fails is left nil and counted as an error.
func (b *bench) setupPublishers(ctx context.Context, gw transport.Addr) ([]*client.Client, []client.Topic) {
	o := b.o
	clients := make([]*client.Client, o.clients)
	topics := make([]client.Topic, o.clients)
	b.forEach(o.clients, func(i int) {
		c, err := b.dial(gw, i, nil)
		if err != nil {
			b.fail(err)
			return
		}
		if o.qos != -1 {
			if err := b.request(ctx, c.Connect); err != nil {
				b.fail(fmt.Errorf("connect: %w", err))
				c.Close()
				return
			}
		}
		switch o.topicKind {
		case "registered":
			err := b.request(ctx, func(ctx context.Context) error {
				id, err := c.Register(ctx, o.prefix+"/c"+strconv.Itoa(i))
				topics[i] = client.Registered(id)
				return err
			})
			if err != nil {
				b.fail(fmt.Errorf("register: %w", err))
				c.Close()
				return
			}
		case "predefined":
			topics[i] = client.Predefined(uint16(o.predefinedID))
		case "short":
			topics[i], _ = client.Short(shortTopic)
		}
		clients[i] = c
	})
	return clients, topics
}

func (b *bench) count(clients []*client.Client) int {
	n := 0
	for _, c := range clients {
		if c != nil {
			n++
		}
	}
	return n
}

// maxBatch is the most QoS 0 messages one client sends in one system call.
const maxBatch = 64

// publishLoop publishes from one client until end: paced at rate/clients
// messages per second, or as fast as the client can (QoS 1 and 2 wait for
// each acknowledgement).
func (b *bench) publishLoop(ctx context.Context, c *client.Client, i int, topic client.Topic, start, end time.Time) {
	o := b.o
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.clients) / o.rate)
	}
	if o.qos <= 0 {
		b.publishBatches(ctx, c, i, topic, start, end, interval)
		return
	}
	payload := newPayload(o.size)
	qos := mqttsn.QoS(o.qos)
	for seq := uint32(0); ; seq++ {
		pace(start, interval, seq)
		now := time.Now()
		if now.After(end) || ctx.Err() != nil {
			return
		}
		putHeader(payload, uint32(i), seq, now)
		err := b.request(ctx, func(ctx context.Context) error { return c.Publish(ctx, topic, qos, false, payload) })
		b.sent.Add(1)
		if err != nil {
			b.fail(err)
			if errors.Is(err, client.ErrClosed) {
				return
			}
		}
	}
}

// publishBatches sends QoS 0 and -1 messages: whatever fell due since the
// last pause (up to maxBatch; unpaced, 16 at a time) in one system call.
func (b *bench) publishBatches(ctx context.Context, c *client.Client, i int, topic client.Topic, start, end time.Time, interval time.Duration) {
	o := b.o
	payloads := make([][]byte, maxBatch)
	for k := range payloads {
		payloads[k] = newPayload(o.size)
	}
	qos := mqttsn.QoS(o.qos)
	for seq := uint32(0); ; {
		pace(start, interval, seq)
		now := time.Now()
		if now.After(end) || ctx.Err() != nil {
			return
		}
		n := 16
		if interval > 0 {
			n = int(now.Sub(start)/interval) + 1 - int(seq)
		}
		n = min(max(n, 1), maxBatch)
		for k := range n {
			putHeader(payloads[k], uint32(i), seq+uint32(k), now)
		}
		err := c.PublishBatch(topic, qos, false, payloads[:n])
		b.sent.Add(int64(n))
		seq += uint32(n)
		if err != nil {
			b.fail(err)
			if errors.Is(err, client.ErrClosed) {
				return
			}
		}
	}
}

// newPayload returns a payload of size octets: room for the header, then
// letters.
func newPayload(size int) []byte {
	p := make([]byte, size)
	for k := headerLen; k < len(p); k++ {
		p[k] = byte('a' + k%26)
	}
	return p
}

// drainWait waits for the deliveries still under way: until everything
// sent arrived, or --drain passed without a new delivery.
func (b *bench) drainWait(ctx context.Context, tr *tracker, want func() int64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	last := tr.delivered.Load()
	quiet := time.Now()
	for tr.delivered.Load() < want() && time.Since(quiet) < time.Duration(b.o.drain) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d := tr.delivered.Load(); d != last {
			last, quiet = d, time.Now()
		}
	}
}

// closeAll disconnects (when connected) and closes every client.
func (b *bench) closeAll(ctx context.Context, clients []*client.Client, connected bool) {
	ctx = context.WithoutCancel(ctx)
	b.forEach(len(clients), func(i int) {
		c := clients[i]
		if c == nil {
			return
		}
		if connected {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c.Disconnect(dctx)
			cancel()
		}
		c.Close()
	})
}

// connections runs the connections scenario: N clients connect (and
// optionally sleep) and stay for --duration.
func (b *bench) connections(ctx context.Context) (*Report, error) {
	o := b.o
	gw, err := b.gateway(ctx)
	if err != nil {
		return nil, err
	}
	before, err := b.sampleGateway()
	if err != nil {
		return nil, err
	}
	tr := newTracker(1) // connect latencies, one "source"
	clients := make([]*client.Client, o.clients)
	defer b.closeAll(ctx, clients, true)
	start := time.Now()
	stop := b.progress(ctx, func() string {
		return fmt.Sprintf("connecting %d/%d  errors %d  %.0fs", tr.delivered.Load(), o.clients, b.errs.Load(), time.Since(start).Seconds())
	})
	b.forEach(o.clients, func(i int) {
		b.sent.Add(1)
		c, err := b.dial(gw, i, nil)
		if err != nil {
			b.fail(err)
			return
		}
		clients[i] = c
		t0 := time.Now()
		if err := b.request(ctx, c.Connect); err != nil {
			b.fail(fmt.Errorf("connect: %w", err))
			return
		}
		tr.recordLatency(0, uint32(i), time.Since(t0))
		if o.sleepClients {
			if err := b.request(ctx, func(ctx context.Context) error { return c.Sleep(ctx, time.Duration(o.keepAlive)) }); err != nil {
				b.fail(fmt.Errorf("sleep: %w", err))
			}
		}
	})
	connected := time.Now()
	stop()
	// Hold the connections, then measure the gateway.
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(o.duration)):
	}
	after, _ := b.sampleGateway()

	rep := &Report{Sent: b.sent.Load()}
	b.finish(rep, tr, start, connected)
	rep.ConnectRate = rep.Rate
	rep.OutOfOrder = 0 // connects complete concurrently: order means nothing here
	rep.DurationS = round2(time.Duration(o.duration).Seconds())
	if o.pid != 0 {
		rep.Gateway = gatewayUse(o.pid, before, after)
		if rep.Delivered > 0 {
			rep.Gateway.RSSPerClientKB = round2(float64(after.rss-before.rss) / float64(rep.Delivered) / 1024)
		}
	}
	return rep, nil
}

// recordLatency accounts one event with a measured latency.
func (t *tracker) recordLatency(src, seq uint32, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recordLocked(src, seq, d.Nanoseconds())
	t.lastRecv = time.Now()
}

// fanout runs the fanout scenario: N sensors subscribe, an MQTT client
// publishes on the broker, the sensors count.
func (b *bench) fanout(ctx context.Context) (*Report, error) {
	o := b.o
	gw, err := b.gateway(ctx)
	if err != nil {
		return nil, err
	}
	filter, topic := client.FilterName(o.prefix+"/fan"), o.prefix+"/fan"
	switch o.topicKind {
	case "predefined":
		filter, topic = client.FilterPredefined(uint16(o.predefinedID)), o.predefinedTopic
	case "short":
		filter, _ = client.FilterShort(shortTopic)
		topic = shortTopic
	}
	tr := newTracker(o.clients)
	clients := make([]*client.Client, o.clients)
	defer b.closeAll(ctx, clients, true)
	var subscribed atomic.Int64
	b.forEach(o.clients, func(i int) {
		c, err := b.dial(gw, i, func(m client.Message) { tr.recordFor(uint32(i), m.Payload, time.Now()) })
		if err != nil {
			b.fail(err)
			return
		}
		clients[i] = c
		if err := b.request(ctx, c.Connect); err != nil {
			b.fail(fmt.Errorf("connect: %w", err))
			return
		}
		err = b.request(ctx, func(ctx context.Context) error {
			_, err := c.Subscribe(ctx, filter, mqttsn.QoS(o.qos))
			return err
		})
		if err != nil {
			b.fail(fmt.Errorf("subscribe: %w", err))
			return
		}
		subscribed.Add(1)
	})
	if subscribed.Load() == 0 {
		return nil, fmt.Errorf("no sensor could subscribe: %w", b.first)
	}
	pub, err := b.mqttClient("pub", nil)
	if err != nil {
		return nil, err
	}
	defer pub.Disconnect(250)

	before, err := b.sampleGateway()
	if err != nil {
		return nil, err
	}
	var published atomic.Int64
	want := func() int64 { return published.Load() * subscribed.Load() }
	start := time.Now()
	stop := b.progress(ctx, func() string {
		return fmt.Sprintf("published %d  delivered %d/%d  %.0fs", published.Load(), tr.delivered.Load(), want(), time.Since(start).Seconds())
	})
	b.fanoutLoop(ctx, pub, topic, start, start.Add(time.Duration(o.duration)), &published)
	sendEnd := time.Now()
	after, _ := b.sampleGateway()
	b.drainWait(ctx, tr, want)
	stop()

	rep := &Report{Sent: want()}
	b.finish(rep, tr, start, sendEnd)
	if o.pid != 0 {
		rep.Gateway = gatewayUse(o.pid, before, after)
	}
	return rep, nil
}

// fanoutLoop publishes on the broker until end, paced at --rate.
func (b *bench) fanoutLoop(ctx context.Context, pub mqtt.Client, topic string, start, end time.Time, published *atomic.Int64) {
	o := b.o
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) / o.rate)
	}
	qos := byte(max(o.qos, 0))
	for seq := uint32(0); ; seq++ {
		pace(start, interval, seq)
		now := time.Now()
		if now.After(end) || ctx.Err() != nil {
			return
		}
		payload := make([]byte, o.size) // paho keeps it until written
		putHeader(payload, 0, seq, now)
		tok := pub.Publish(topic, qos, false, payload)
		if qos > 0 {
			if err := waitToken(tok, time.Duration(o.timeout)); err != nil {
				b.fail(fmt.Errorf("publish at the broker: %w", err))
			}
		}
		published.Add(1)
	}
}

// baseline runs the broker scenario: N MQTT clients publish straight to
// the broker, bypassing the gateway, and the same subscriber counts. It
// measures the ceiling that the broker and the counting subscriber put on
// the publish scenario on this machine.
func (b *bench) baseline(ctx context.Context) (*Report, error) {
	o := b.o
	tr := newTracker(o.clients)
	subs, err := b.subscribe(tr)
	if err != nil {
		return nil, err
	}
	defer disconnectAll(subs)
	pubs := make([]mqtt.Client, o.clients)
	for i := range pubs {
		c, err := b.mqttClient("pub"+strconv.Itoa(i), nil)
		if err != nil {
			return nil, err
		}
		defer c.Disconnect(250)
		pubs[i] = c
	}
	start := time.Now()
	end := start.Add(time.Duration(o.duration))
	stop := b.progress(ctx, func() string {
		return fmt.Sprintf("sent %d  delivered %d  %.0fs", b.sent.Load(), tr.delivered.Load(), time.Since(start).Seconds())
	})
	var wg sync.WaitGroup
	for i, c := range pubs {
		wg.Go(func() { b.brokerLoop(ctx, c, i, o.prefix+"/c"+strconv.Itoa(i), start, end) })
	}
	wg.Wait()
	sendEnd := time.Now()
	b.drainWait(ctx, tr, b.sent.Load)
	stop()
	rep := &Report{Sent: b.sent.Load()}
	b.finish(rep, tr, start, sendEnd)
	return rep, nil
}

// brokerLoop publishes from one MQTT client until end, paced at
// rate/clients.
func (b *bench) brokerLoop(ctx context.Context, c mqtt.Client, i int, topic string, start, end time.Time) {
	o := b.o
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.clients) / o.rate)
	}
	qos := byte(max(o.qos, 0))
	for seq := uint32(0); ; seq++ {
		pace(start, interval, seq)
		now := time.Now()
		if now.After(end) || ctx.Err() != nil {
			return
		}
		payload := make([]byte, o.size) // paho keeps it until written
		putHeader(payload, uint32(i), seq, now)
		tok := c.Publish(topic, qos, false, payload)
		if qos > 0 {
			if err := waitToken(tok, time.Duration(o.timeout)); err != nil {
				b.fail(fmt.Errorf("publish at the broker: %w", err))
			}
		}
		b.sent.Add(1)
	}
}
