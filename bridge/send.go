package bridge

import (
	"math"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
)

// send encodes p and writes it to key's address, wrapped in Forwarder
// Encapsulation when the client is behind a forwarder: the reply goes to
// the same forwarder with the same Wireless Node Id. [MQTT-SN 1.2 §5.5]
// radius is the broadcast radius for the forwarder (0 for unicast).
func (g *Gateway) send(key *clientKey, radius uint8, p *mqttsn.Packet) {
	b, err := p.AppendBinary(g.out[:0])
	if err != nil {
		g.stats.sendErrors.Add(1)
		g.log.Error().Err(err).Stringer("msg_type", p.Type).Msg("packet not encoded")
		return
	}
	g.out = b
	if key.encap {
		g.encap = mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{
			Radius:  radius,
			NodeID:  key.node.bytes(),
			Message: b,
		}}
		b, err = g.encap.AppendBinary(g.inner[:0])
		g.encap.Encapsulated = mqttsn.Encapsulated{}
		if err != nil {
			g.stats.sendErrors.Add(1)
			g.log.Error().Err(err).Stringer("msg_type", p.Type).Msg("encapsulated packet not encoded")
			return
		}
		g.inner = b
	}
	g.write(key.tr, key, b, p)
}

func (g *Gateway) write(tr int, key *clientKey, b []byte, p *mqttsn.Packet) {
	conn := g.cfg.Transports[tr]
	if max := conn.MaxPayload(); max > 0 && len(b) > max {
		g.stats.sendTooLarge.Add(1)
		g.badLog.Warn().Stringer("addr", key.addr).Stringer("msg_type", p.Type).Int("len", len(b)).Int("max_payload", max).Msg("packet too large for transport, not sent")
		return
	}
	if _, err := conn.WriteTo(b, key.addr); err != nil {
		g.stats.sendErrors.Add(1)
		g.badLog.Warn().Err(err).Stringer("addr", key.addr).Stringer("msg_type", p.Type).Msg("transport write failed")
		return
	}
	g.stats.packetsOut.Add(1)
	if ev := g.log.Debug(); ev.Enabled() {
		g.packetFields(ev, key, p).Msg("packet sent")
	}
}

// advertise broadcasts ADVERTISE on every transport that has a broadcast
// address. [MQTT-SN 1.2 §6.1, §5.4.1]
func (g *Gateway) advertise() {
	secs := g.cfg.AdvertiseInterval / time.Second
	g.reply = mqttsn.Packet{Type: mqttsn.TypeAdvertise, Advertise: mqttsn.Advertise{
		GwID:     g.cfg.GatewayID,
		Duration: uint16(min(secs, math.MaxUint16)),
	}}
	for tr, conn := range g.cfg.Transports {
		to := conn.BroadcastAddr()
		if !to.IsValid() {
			continue
		}
		key := clientKey{tr: tr, addr: to}
		g.send(&key, 0, &g.reply)
		g.stats.advertises.Add(1)
	}
}

// searchGW answers SEARCHGW with GWINFO to the sender and, where the
// transport it came in on has a broadcast address, broadcast there too so
// that other clients learn of the gateway. A forwarder gets one
// encapsulated GWINFO carrying the SEARCHGW's radius, to broadcast on its
// side. [MQTT-SN 1.2 §6.1]
func (g *Gateway) searchGW(ib *inbound) {
	radius := ib.pkt.SearchGW.Radius
	g.reply = mqttsn.Packet{Type: mqttsn.TypeGWInfo, GWInfo: mqttsn.GWInfo{GwID: g.cfg.GatewayID}}
	g.log.Debug().Stringer("addr", ib.key.addr).Uint8("radius", radius).Msg("SEARCHGW answered")
	g.send(&ib.key, radius&0x03, &g.reply)
	g.stats.gwinfos.Add(1)
	if ib.key.encap {
		return
	}
	to := g.cfg.Transports[ib.key.tr].BroadcastAddr()
	if !to.IsValid() || to == ib.key.addr {
		return
	}
	key := clientKey{tr: ib.key.tr, addr: to}
	g.send(&key, 0, &g.reply)
	g.stats.gwinfos.Add(1)
}
