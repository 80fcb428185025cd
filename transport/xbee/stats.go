package xbee

import (
	"maps"

	"github.com/snbridge/snbridge/transport"
)

// Stats counts what a [Conn] has done since New. Errors on the radio
// link are counted here, logged (sampled) and skipped; none of them ends
// the transport.
type Stats struct {
	Decoder DecoderStats // bytes and frames from the radio, and framing errors

	RxPackets     uint64 // datagrams queued for ReadFrom
	RxDropped     uint64 // datagrams dropped: QueueLen datagrams were waiting for ReadFrom
	RxTruncated   uint64 // datagrams longer than the ReadFrom buffer
	BadFrames     uint64 // frames of a known type too short to parse, or without RF data
	UnknownFrames uint64 // frames of a type the transport does not handle, skipped

	ModemStatus     uint64      // Modem Status frames
	LastModemStatus ModemStatus // the status of the last one

	TxFrames          uint64 // Transmit Requests written to the port
	TxOversize        uint64 // datagrams refused: longer than MaxPayload
	TxBadAddr         uint64 // datagrams refused: not an xbee address, or empty
	TxNotConnected    uint64 // datagrams refused: device not open
	TxQueueFull       uint64 // datagrams refused: transmit queue full
	TxDropped         uint64 // queued datagrams dropped because the device went away
	TxDelivered       uint64 // Transmit Status: success
	TxFailed          uint64 // Transmit Status: any failure
	TxStatusUnmatched uint64 // Transmit Status with a frame id not waited for
	TxStatusLost      uint64 // frame ids reused before their Transmit Status came

	Opens        uint64 // times the device was opened
	OpenFailures uint64 // failed attempts to open it
	Unplugs      uint64 // times it failed while open (unplugged)

	// PerDest counts transmissions per destination radio (the broadcast
	// address included); at most 65536 destinations are tracked.
	PerDest map[transport.Addr]DestStats
}

// DestStats counts the transmissions to one destination.
type DestStats struct {
	Sent        uint64         // datagrams queued by WriteTo
	Delivered   uint64         // Transmit Status: success
	Failed      uint64         // Transmit Status: failure
	LastFailure DeliveryStatus // the status of the last failure
}

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.PerDest = make(map[transport.Addr]DestStats, len(c.dest))
	for k, v := range maps.All(c.dest) {
		s.PerDest[k] = *v
	}
	return s
}

// destLocked returns the counters of to, creating them while there is
// room; nil when the table is full.
func (c *Conn) destLocked(to transport.Addr) *DestStats {
	ds := c.dest[to]
	if ds == nil && len(c.dest) < maxPeers {
		ds = new(DestStats)
		c.dest[to] = ds
	}
	return ds
}
