package xbee

import (
	"fmt"

	"github.com/rs/zerolog"
	"go.bug.st/serial"

	"github.com/snbridge/snbridge/transport"
)

// readLoop reads the port and handles every frame until a read fails.
func (c *Conn) readLoop(port serial.Port) error {
	for {
		n, err := port.Read(c.rbuf)
		if err != nil {
			return fmt.Errorf("xbee: read %s: %w", c.cfg.Device, err)
		}
		if n == 0 {
			// Read timeout: the line is quiet.
			if !c.dec.Partial() {
				continue
			}
			c.dec.Idle()
		} else {
			c.dec.Feed(c.rbuf[:n])
		}
		before := c.dec.Stats()
		for {
			data, ok := c.dec.Next()
			if !ok {
				break
			}
			// Counters first, so that they cover a frame once it is
			// delivered.
			c.publishDecoder()
			c.handleFrame(data)
		}
		c.noteDecoder(before)
	}
}

func (c *Conn) publishDecoder() {
	s := c.dec.Stats()
	c.mu.Lock()
	c.stats.Decoder = s
	c.mu.Unlock()
}

// noteDecoder publishes the decoder's counters and logs (sampled) the
// errors since before.
func (c *Conn) noteDecoder(before DecoderStats) {
	c.publishDecoder()
	after := c.dec.Stats()
	if after.SkippedBytes != before.SkippedBytes || after.BadChecksum != before.BadChecksum ||
		after.BadLength != before.BadLength || after.Truncated != before.Truncated {
		c.noisy.Warn().
			Uint64("skipped_bytes", after.SkippedBytes-before.SkippedBytes).
			Uint64("bad_checksum", after.BadChecksum-before.BadChecksum).
			Uint64("bad_length", after.BadLength-before.BadLength).
			Uint64("truncated", after.Truncated-before.Truncated).
			Msg("bad bytes from radio, resynchronised")
	}
}

// handleFrame acts on one frame; data aliases the decoder's buffer.
func (c *Conn) handleFrame(data []byte) {
	t := FrameType(data[0])
	var err error
	switch t {
	case TypeRxPacket:
		err = c.handleRx(data)
	case TypeTxStatus:
		var s TxStatus
		if err = s.Parse(data); err == nil {
			c.handleTxStatus(s)
		}
	case TypeModemStatus:
		var s ModemStatus
		if s, err = ParseModemStatus(data); err == nil {
			c.handleModemStatus(s)
		}
	case TypeATResponse:
		var r ATResponse
		if err = r.Parse(data); err == nil {
			c.handleATResponse(r)
		}
	default:
		c.countTx(func(s *Stats) { s.UnknownFrames++ })
		c.log.Debug().Stringer("frame_type", t).Int("size", len(data)).Msg("unknown frame type skipped")
		return
	}
	if err != nil {
		c.countTx(func(s *Stats) { s.BadFrames++ })
		c.noisy.Warn().Err(err).Msg("bad frame from radio")
	}
}

// handleRx queues the RF data of a Receive Packet for ReadFrom and
// refreshes the sender's 16-bit address.
func (c *Conn) handleRx(data []byte) error {
	var p RxPacket
	if err := p.Parse(data); err != nil {
		return err
	}
	if len(p.Data) == 0 {
		return fmt.Errorf("xbee: receive packet from %016x: no rf data", p.Src64)
	}
	c.mu.Lock()
	if _, ok := c.addr16[p.Src64]; ok || len(c.addr16) < maxPeers {
		c.addr16[p.Src64] = p.Src16
	}
	c.mu.Unlock()
	var idx int
	select {
	case idx = <-c.rxFree:
	default:
		c.countTx(func(s *Stats) { s.RxDropped++ })
		c.noisy.Warn().Stringer("addr", transport.XBeeAddr(p.Src64)).Msg("receive queue full, datagram dropped")
		return nil
	}
	n := copy(c.rxBufs[idx], p.Data)
	c.countTx(func(s *Stats) { s.RxPackets++ })
	if e := c.log.Debug(); e.Enabled() {
		e.Stringer("addr", transport.XBeeAddr(p.Src64)).Uint16("addr16", p.Src16).Int("size", n).Msg("datagram received")
	}
	c.rxq <- rxItem{idx: idx, n: n, from: p.Src64} // never blocks: one slot per buffer
	return nil
}

// handleTxStatus matches a Transmit Status to its request and counts the
// outcome for the destination.
func (c *Conn) handleTxStatus(s TxStatus) {
	c.mu.Lock()
	p := c.pending[s.FrameID]
	if !p.used {
		c.stats.TxStatusUnmatched++
		c.mu.Unlock()
		c.log.Debug().Uint8("frame_id", s.FrameID).Msg("transmit status for no pending request")
		return
	}
	c.pending[s.FrameID] = pendingTx{}
	ds := c.destLocked(p.to)
	eui := p.to.EUI64()
	if s.Delivery == DeliverySuccess {
		c.stats.TxDelivered++
		if ds != nil {
			ds.Delivered++
		}
		if eui != BroadcastEUI64 && s.Dst16 < 0xFFF8 {
			if _, ok := c.addr16[eui]; ok || len(c.addr16) < maxPeers {
				c.addr16[eui] = s.Dst16
			}
		}
		c.mu.Unlock()
		return
	}
	c.stats.TxFailed++
	failed := uint64(0) // unknown: the per-destination table is full
	if ds != nil {
		ds.Failed++
		ds.LastFailure = s.Delivery
		failed = ds.Failed
	}
	if s.Delivery == DeliveryAddressNotFound || s.Delivery == DeliveryRouteNotFound {
		delete(c.addr16, eui) // rediscover next time
	}
	c.mu.Unlock()
	// A dead or departed node fails every transmission: log its 1st, 2nd,
	// 4th, 8th... failure with the running count (Stats has them all), and
	// all destinations together through a burst sampler, so that a dead
	// network does not flood the log either.
	if failed&(failed-1) == 0 {
		c.txFailLog.Warn().Stringer("addr", p.to).Uint8("frame_id", s.FrameID).Uint8("retries", s.Retries).
			Stringer("delivery", s.Delivery).Uint64("failed", failed).Msg("transmit failed")
	}
}

func (c *Conn) handleModemStatus(s ModemStatus) {
	c.countTx(func(st *Stats) { st.ModemStatus++; st.LastModemStatus = s })
	level := zerolog.InfoLevel
	if s == ModemDisassociated || s >= 0x80 {
		level = zerolog.WarnLevel
	}
	c.log.WithLevel(level).Stringer("status", s).Uint8("code", uint8(s)).Msg("modem status")
}

// handleATResponse takes the radio's address from AT SH and AT SL.
func (c *Conn) handleATResponse(r ATResponse) {
	if r.Status != 0 || len(r.Data) != 4 {
		c.log.Debug().Str("command", string(r.Command[:])).Uint8("status", r.Status).Msg("at command response ignored")
		return
	}
	v := uint32(r.Data[0])<<24 | uint32(r.Data[1])<<16 | uint32(r.Data[2])<<8 | uint32(r.Data[3])
	c.mu.Lock()
	wasKnown := c.haveSH && c.haveSL
	switch r.Command {
	case [2]byte{'S', 'H'}:
		c.local[0], c.haveSH = v, true
	case [2]byte{'S', 'L'}:
		c.local[1], c.haveSL = v, true
	}
	known := c.haveSH && c.haveSL
	c.mu.Unlock()
	if known && !wasKnown {
		c.log.Info().Stringer("addr", c.LocalAddr()).Msg("radio address")
	}
}
