package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/transport"
)

// Topic names the topic of a PUBLISH: a registered id, a predefined id or
// a short topic name.
type Topic struct {
	Type mqttsn.TopicIDType
	ID   uint16
}

// Registered returns the Topic of a topic id obtained by REGISTER.
func Registered(id uint16) Topic { return Topic{Type: mqttsn.TopicIDNormal, ID: id} }

// Predefined returns the Topic of a predefined topic id.
func Predefined(id uint16) Topic { return Topic{Type: mqttsn.TopicIDPredefined, ID: id} }

// Short returns the Topic of a two-character short topic name.
func Short(name string) (Topic, error) {
	id, ok := mqttsn.ShortTopicID(name)
	if !ok {
		return Topic{}, fmt.Errorf("mqttsn client: short topic name %q is not 2 octets", name)
	}
	return Topic{Type: mqttsn.TopicIDShort, ID: id}, nil
}

// Filter names what SUBSCRIBE and UNSUBSCRIBE ask for: a topic name or
// filter (wildcards allowed), a predefined id or a short topic name.
type Filter struct {
	Type mqttsn.TopicIDType
	Name string // TopicIDNormal
	ID   uint16 // TopicIDPredefined, TopicIDShort
}

// FilterName returns the Filter of a topic name or wildcard filter.
func FilterName(name string) Filter { return Filter{Type: mqttsn.TopicIDNormal, Name: name} }

// FilterPredefined returns the Filter of a predefined topic id.
func FilterPredefined(id uint16) Filter { return Filter{Type: mqttsn.TopicIDPredefined, ID: id} }

// FilterShort returns the Filter of a two-character short topic name.
func FilterShort(name string) (Filter, error) {
	t, err := Short(name)
	return Filter{Type: t.Type, ID: t.ID}, err
}

func keepAliveSeconds(d time.Duration) uint16 {
	s := d / time.Second
	if s > 0xFFFF {
		return 0xFFFF
	}
	return uint16(s)
}

// Connect sends CONNECT with the Config's client id, keep-alive, clean
// session and will, answers WILLTOPICREQ and WILLMSGREQ, and waits for
// CONNACK. A refusal is a [*RejectedError]. [MQTT-SN 1.2 §6.2, §6.3]
func (c *Client) Connect(ctx context.Context) error {
	w, _, err := c.expect(false, waitKey{mqttsn.TypeConnack, 0}, waitKey{mqttsn.TypeWillTopicReq, 0})
	if err != nil {
		return err
	}
	defer c.release(w)
	wm, _, err := c.expect(false, waitKey{mqttsn.TypeWillMsgReq, 0})
	if err != nil {
		return err
	}
	defer c.release(wm)
	p := &mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
		Flags:      mqttsn.Flags{CleanSession: c.cfg.CleanSession, Will: c.cfg.Will != nil},
		ProtocolID: mqttsn.ProtocolID,
		Duration:   keepAliveSeconds(c.cfg.KeepAlive),
		ClientID:   []byte(c.cfg.ClientID),
	}}
	if err := c.send(p, transport.Addr{}); err != nil {
		return err
	}
	resend := p
	for {
		r, err := c.waitAny(ctx, resend, w, wm)
		if err != nil {
			return err
		}
		switch r.p.Type {
		case mqttsn.TypeWillTopicReq:
			resend = c.willTopic()
		case mqttsn.TypeWillMsgReq:
			resend = c.willMsg()
		case mqttsn.TypeConnack:
			return rejected(mqttsn.TypeConnack, r.p.Connack.ReturnCode)
		}
		if err := c.send(resend, transport.Addr{}); err != nil {
			return err
		}
	}
}

// waitAny waits on two waiters at once (the will dialogue); retransmits
// resend like wait.
func (c *Client) waitAny(ctx context.Context, resend *mqttsn.Packet, a, b *waiter) (reply, error) {
	// Merge b into a's channel view: the will dialogue is strictly
	// sequential, so polling both with one select suffices.
	var tick <-chan time.Time
	var t *time.Timer
	if c.cfg.Retry > 0 {
		t = time.NewTimer(c.cfg.Retry)
		defer t.Stop()
		tick = t.C
	}
	for tries := 0; ; {
		select {
		case r := <-a.ch:
			return r, nil
		case r := <-b.ch:
			return r, nil
		case <-ctx.Done():
			return reply{}, fmt.Errorf("mqttsn client: waiting for CONNACK: %w", ctx.Err())
		case <-c.dead:
			return reply{}, c.Err()
		case <-tick:
			if tries++; tries > c.cfg.MaxRetries {
				return reply{}, fmt.Errorf("waiting for CONNACK after %d retransmissions: %w", c.cfg.MaxRetries, ErrNoAnswer)
			}
			if err := c.send(resend, transport.Addr{}); err != nil {
				return reply{}, err
			}
			t.Reset(c.cfg.Retry)
		}
	}
}

func (c *Client) willTopic() *mqttsn.Packet {
	p := &mqttsn.Packet{Type: mqttsn.TypeWillTopic}
	if wl := c.cfg.Will; wl != nil {
		p.WillTopic = mqttsn.WillTopic{
			Flags: mqttsn.Flags{QoS: wl.QoS, Retain: wl.Retain},
			Topic: []byte(wl.Topic),
		}
	}
	return p
}

func (c *Client) willMsg() *mqttsn.Packet {
	p := &mqttsn.Packet{Type: mqttsn.TypeWillMsg}
	if wl := c.cfg.Will; wl != nil {
		p.WillMsg.Msg = wl.Payload
	}
	return p
}

func rejected(t mqttsn.MsgType, rc mqttsn.ReturnCode) error {
	if rc == mqttsn.Accepted {
		return nil
	}
	return &RejectedError{Type: t, Code: rc}
}

// Register asks the gateway for the topic id of name and remembers it.
// [MQTT-SN 1.2 §6.9]
func (c *Client) Register(ctx context.Context, name string) (uint16, error) {
	w, id, err := c.expect(true, waitKey{mqttsn.TypeRegack, 0})
	if err != nil {
		return 0, err
	}
	defer c.release(w)
	p := &mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: id, TopicName: []byte(name)}}
	r, err := c.roundTrip(ctx, p, w)
	if err != nil {
		return 0, err
	}
	if err := rejected(mqttsn.TypeRegack, r.p.Regack.ReturnCode); err != nil {
		return 0, err
	}
	c.remember(r.p.Regack.TopicID, name)
	return r.p.Regack.TopicID, nil
}

func (c *Client) roundTrip(ctx context.Context, p *mqttsn.Packet, w *waiter) (reply, error) {
	if err := c.send(p, transport.Addr{}); err != nil {
		return reply{}, err
	}
	return c.wait(ctx, w, p)
}

// Publish sends payload on topic at qos and returns once it is
// acknowledged as qos requires: at once for QoS 0 and -1 (a later
// rejection goes to Config.OnRejected), after PUBACK for QoS 1, after
// PUBREC, PUBREL and PUBCOMP for QoS 2. A rejecting PUBACK is a
// [*RejectedError]. QoS -1 needs no CONNECT, but only a predefined id or a
// short name. [MQTT-SN 1.2 §6.6, §6.7, §6.8]
func (c *Client) Publish(ctx context.Context, topic Topic, qos mqttsn.QoS, retain bool, payload []byte) error {
	pub := mqttsn.Publish{
		Flags:   mqttsn.Flags{QoS: qos, Retain: retain, TopicIDType: topic.Type},
		TopicID: topic.ID,
		Data:    payload,
	}
	if qos == mqttsn.QoSMinus1 || qos == mqttsn.QoS0 {
		return c.publish0(&pub)
	}
	p := mqttsn.Packet{Type: mqttsn.TypePublish, Publish: pub}
	switch qos {
	case mqttsn.QoS1:
		return c.publish1(ctx, &p)
	case mqttsn.QoS2:
		return c.publish2(ctx, &p)
	}
	return fmt.Errorf("mqttsn client: invalid QoS %d", qos)
}

// publish0 sends a QoS 0 or -1 PUBLISH from the scratch Packet, so that
// the load generator's hot path allocates nothing.
func (c *Client) publish0(pub *mqttsn.Publish) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.scratch.Type = mqttsn.TypePublish
	c.scratch.Publish = *pub
	err := c.sendLocked(&c.scratch, transport.Addr{})
	c.scratch.Publish.Data = nil // keep nothing of the caller's
	return err
}

// BatchWriter is implemented by a [transport.Conn] that can send several
// datagrams to one peer in one call, such as a UDP socket with
// sendmmsg(2). It must send them in order and keep none of them.
type BatchWriter interface {
	WriteBatchTo(bs [][]byte, to transport.Addr) (int, error)
}

// PublishBatch sends each payload as a QoS 0 or -1 PUBLISH on topic, in
// order, with one write when the Conn is a [BatchWriter] (else one per
// message). It is for load generators: nothing is acknowledged, and the
// payloads are not kept after it returns.
func (c *Client) PublishBatch(topic Topic, qos mqttsn.QoS, retain bool, payloads [][]byte) error {
	if qos != mqttsn.QoS0 && qos != mqttsn.QoSMinus1 {
		return fmt.Errorf("mqttsn client: PublishBatch is for QoS 0 and -1, not %d", qos)
	}
	bw, ok := c.conn.(BatchWriter)
	if !ok {
		for _, pl := range payloads {
			if err := c.Publish(context.Background(), topic, qos, retain, pl); err != nil {
				return err
			}
		}
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.scratch.Type = mqttsn.TypePublish
	c.scratch.Publish = mqttsn.Publish{
		Flags:   mqttsn.Flags{QoS: qos, Retain: retain, TopicIDType: topic.Type},
		TopicID: topic.ID,
	}
	defer func() { c.scratch.Publish.Data = nil }()
	c.bbuf, c.bmsgs = c.bbuf[:0], c.bmsgs[:0]
	offs := c.boffs[:0]
	for _, pl := range payloads {
		c.scratch.Publish.Data = pl
		start := len(c.bbuf)
		b, err := c.appendMessage(c.bbuf, &c.scratch)
		if err != nil {
			return err
		}
		c.bbuf = b
		offs = append(offs, start)
		if c.cfg.Debug != nil {
			c.cfg.Debug(Sent, &c.scratch)
		}
	}
	c.boffs = offs
	for i, start := range offs {
		end := len(c.bbuf)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		c.bmsgs = append(c.bmsgs, c.bbuf[start:end:end])
	}
	if _, err := bw.WriteBatchTo(c.bmsgs, c.cfg.Gateway); err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = ErrClosed
		}
		return fmt.Errorf("mqttsn client: send %d PUBLISH to %s: %w", len(payloads), c.cfg.Gateway, err)
	}
	return nil
}

func (c *Client) publish1(ctx context.Context, p *mqttsn.Packet) error {
	w, id, err := c.expect(true, waitKey{mqttsn.TypePuback, 0})
	if err != nil {
		return err
	}
	defer c.release(w)
	p.Publish.MsgID = id
	r, err := c.roundTrip(ctx, p, w)
	if err != nil {
		return err
	}
	return rejected(mqttsn.TypePuback, r.p.Puback.ReturnCode)
}

func (c *Client) publish2(ctx context.Context, p *mqttsn.Packet) error {
	w, id, err := c.expect(true, waitKey{mqttsn.TypePubrec, 0}, waitKey{mqttsn.TypePuback, 0})
	if err != nil {
		return err
	}
	defer c.release(w)
	p.Publish.MsgID = id
	r, err := c.roundTrip(ctx, p, w)
	if err != nil {
		return err
	}
	if r.p.Type == mqttsn.TypePuback {
		if err := rejected(mqttsn.TypePuback, r.p.Puback.ReturnCode); err != nil {
			return err
		}
		return fmt.Errorf("mqttsn client: PUBACK where PUBREC was expected for msg id %d", id)
	}
	wc, _, err := c.expectID(id, waitKey{mqttsn.TypePubcomp, 0})
	if err != nil {
		return err
	}
	defer c.release(wc)
	rel := &mqttsn.Packet{Type: mqttsn.TypePubrel, Pubrel: mqttsn.Pubrel{MsgID: id}}
	_, err = c.roundTrip(ctx, rel, wc)
	return err
}

// expectID is expect with a message id already drawn.
func (c *Client) expectID(id uint16, k waitKey) (*waiter, uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, 0, c.err
	}
	k.id = id
	if _, ok := c.waits[k]; ok {
		return nil, 0, ErrBusy
	}
	w := &waiter{n: 1, keys: [2]waitKey{k}, ch: make(chan reply, 4)}
	c.waits[k] = w
	return w, id, nil
}

// Subscribe subscribes to f at qos and returns the SUBACK. A refusal is a
// [*RejectedError] (the SUBACK is returned too). For a topic name without
// wildcards, the granted topic id is remembered so that incoming messages
// are named. [MQTT-SN 1.2 §6.9]
func (c *Client) Subscribe(ctx context.Context, f Filter, qos mqttsn.QoS) (mqttsn.Suback, error) {
	w, id, err := c.expect(true, waitKey{mqttsn.TypeSuback, 0})
	if err != nil {
		return mqttsn.Suback{}, err
	}
	defer c.release(w)
	p := &mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{
		Flags:   mqttsn.Flags{QoS: qos, TopicIDType: f.Type},
		MsgID:   id,
		TopicID: f.ID,
	}}
	if f.Type == mqttsn.TopicIDNormal {
		p.Subscribe.TopicName = []byte(f.Name)
	}
	r, err := c.roundTrip(ctx, p, w)
	if err != nil {
		return mqttsn.Suback{}, err
	}
	sa := r.p.Suback
	if err := rejected(mqttsn.TypeSuback, sa.ReturnCode); err != nil {
		return sa, err
	}
	if f.Type == mqttsn.TopicIDNormal && sa.TopicID != mqttsn.TopicIDReserved0 && !mqttsn.IsWildcard(f.Name) {
		c.remember(sa.TopicID, f.Name)
	}
	return sa, nil
}

// Unsubscribe cancels a subscription and waits for UNSUBACK.
// [MQTT-SN 1.2 §6.10]
func (c *Client) Unsubscribe(ctx context.Context, f Filter) error {
	w, id, err := c.expect(true, waitKey{mqttsn.TypeUnsuback, 0})
	if err != nil {
		return err
	}
	defer c.release(w)
	p := &mqttsn.Packet{Type: mqttsn.TypeUnsubscribe, Unsubscribe: mqttsn.Unsubscribe{
		Flags:   mqttsn.Flags{TopicIDType: f.Type},
		MsgID:   id,
		TopicID: f.ID,
	}}
	if f.Type == mqttsn.TopicIDNormal {
		p.Unsubscribe.TopicName = []byte(f.Name)
	}
	_, err = c.roundTrip(ctx, p, w)
	return err
}

// Ping sends a keep-alive PINGREQ and waits for PINGRESP.
// [MQTT-SN 1.2 §6.11]
func (c *Client) Ping(ctx context.Context) error {
	return c.ping(ctx, nil)
}

// Wake wakes a sleeping client: PINGREQ with the client id, after which
// the gateway sends the buffered messages (to Config.OnMessage, acked as
// they arrive) and closes with PINGRESP, when Wake returns. The client is
// then asleep again. With retransmission on, Tretry restarts at every
// message received before the PINGRESP. [MQTT-SN 1.2 §6.14]
func (c *Client) Wake(ctx context.Context) error {
	return c.ping(ctx, []byte(c.cfg.ClientID))
}

func (c *Client) ping(ctx context.Context, clientID []byte) error {
	w, _, err := c.expect(false, waitKey{mqttsn.TypePingresp, 0})
	if err != nil {
		return err
	}
	defer c.release(w)
	p := &mqttsn.Packet{Type: mqttsn.TypePingreq, Pingreq: mqttsn.Pingreq{ClientID: clientID}}
	_, err = c.roundTrip(ctx, p, w)
	return err
}

// KeepAlive sends PINGREQ every Config.KeepAlive until ctx ends (then it
// returns nil) or a PINGREQ goes unanswered for a keep-alive period.
// Run it in a goroutine of your own while the client is active.
func (c *Client) KeepAlive(ctx context.Context) error {
	if c.cfg.KeepAlive <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.KeepAlive)
		err := c.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
}

// Disconnect sends DISCONNECT and waits for the gateway's DISCONNECT.
// [MQTT-SN 1.2 §6.12]
func (c *Client) Disconnect(ctx context.Context) error {
	return c.disconnect(ctx, &mqttsn.Disconnect{})
}

// Sleep sends DISCONNECT with a sleep duration (whole seconds) and waits
// for the gateway's DISCONNECT: the client is then asleep and the gateway
// buffers its messages until [Client.Wake] or a new CONNECT.
// [MQTT-SN 1.2 §6.14]
func (c *Client) Sleep(ctx context.Context, d time.Duration) error {
	return c.disconnect(ctx, &mqttsn.Disconnect{HasDuration: true, Duration: keepAliveSeconds(d)})
}

func (c *Client) disconnect(ctx context.Context, d *mqttsn.Disconnect) error {
	w, _, err := c.expect(false, waitKey{mqttsn.TypeDisconnect, 0})
	if err != nil {
		return err
	}
	defer c.release(w)
	p := &mqttsn.Packet{Type: mqttsn.TypeDisconnect, Disconnect: *d}
	_, err = c.roundTrip(ctx, p, w)
	return err
}

// GatewayInfo is the answer to SEARCHGW.
type GatewayInfo struct {
	GwID  uint8
	GwAdd []byte         // present only when another client answered
	From  transport.Addr // who sent the GWINFO
}

// SearchGW broadcasts SEARCHGW with Config.Radius (to the Conn's
// broadcast address, or to Config.Gateway when the Conn has none) and
// returns the first GWINFO. [MQTT-SN 1.2 §6.1]
func (c *Client) SearchGW(ctx context.Context) (GatewayInfo, error) {
	w, _, err := c.expect(false, waitKey{mqttsn.TypeGWInfo, 0})
	if err != nil {
		return GatewayInfo{}, err
	}
	defer c.release(w)
	to := c.conn.BroadcastAddr()
	p := &mqttsn.Packet{Type: mqttsn.TypeSearchGW, SearchGW: mqttsn.SearchGW{Radius: c.cfg.Radius}}
	if err := c.send(p, to); err != nil {
		return GatewayInfo{}, err
	}
	// SEARCHGW is broadcast, so §6.13 does not apply; wait without resend.
	r, err := c.wait(ctx, w, nil)
	if err != nil {
		return GatewayInfo{}, err
	}
	gi := r.p.GWInfo
	return GatewayInfo{GwID: gi.GwID, GwAdd: append([]byte(nil), gi.GwAdd...), From: r.from}, nil
}
