package bridge

import "sync/atomic"

// Stats is a snapshot of the gateway's counters since New.
type Stats struct {
	Sessions           int64  // client sessions held now
	DatagramsIn        uint64 // datagrams read from the transports
	Malformed          uint64 // datagrams that did not parse (dropped)
	ReadErrors         uint64 // transport read errors other than close
	PacketsOut         uint64 // packets written to the transports
	SendErrors         uint64 // transport write errors
	SendTooLarge       uint64 // packets larger than the transport's MaxPayload (not sent)
	SendUnbound        uint64 // packets for a session that has no address (not sent)
	UnknownClient      uint64 // packets from an address without a session (answered with DISCONNECT)
	Ignored            uint64 // packets a gateway does not act on (ADVERTISE, GWINFO, ...)
	ClientsRejected    uint64 // CONNECTs refused (MaxClients, invalid ClientId or ProtocolId)
	QoSMinus1In        uint64 // QoS -1 PUBLISHes forwarded upstream
	QoSMinus1Dropped   uint64 // QoS -1 PUBLISHes dropped (bad topic, gateway session down)
	DeliveriesDropped  uint64 // upstream messages dropped because the event queue was full
	StaleEvents        uint64 // upstream events for sessions that were closed or replaced
	UpstreamErrors     uint64 // upstream operations that failed
	AdvertisesSent     uint64 // ADVERTISE broadcasts
	GWInfosSent        uint64 // GWINFO answers (unicast and broadcast)
	WillsPublished     uint64 // wills handed to the upstream
	EncapsulatedIn     uint64 // datagrams that came through a forwarder
	SessionsOpened     uint64 // sessions created by CONNECT
	SessionsTakenOver  uint64 // sessions moved to a new address by CONNECT or PINGREQ
	SessionsDropped    uint64 // sessions removed (disconnected or lost, not persistent)
	UnsupportedNodeIDs uint64 // encapsulated datagrams with a node id too long to key
	BufferOverflow     uint64 // messages for a client dropped (oldest first) because its sleep buffer or queue was full
	NotBuffered        uint64 // QoS 0 messages for a sleeping client not buffered (buffer_qos0 off)
	DeliveriesTooLarge uint64 // messages for a client whose REGISTER or PUBLISH exceeds its transport's MaxPayload (not delivered)
}

type counters struct {
	sessions atomic.Int64
	datagramsIn, malformed, readErrors, packetsOut, sendErrors, sendTooLarge,
	sendUnbound, unknownClient, ignored, clientsRejected, qosM1In, qosM1Dropped,
	deliveriesDropped, staleEvents, upstreamErrors, advertises, gwinfos, wills,
	encapsulatedIn, sessionsOpened, sessionsTakenOver, sessionsDropped,
	unsupportedNodeIDs, bufferOverflow, notBuffered, deliveriesTooLarge atomic.Uint64
}

// Stats returns a snapshot of the counters. It is safe to call at any
// time from any goroutine.
func (g *Gateway) Stats() Stats {
	c := &g.stats
	return Stats{
		Sessions:           c.sessions.Load(),
		DatagramsIn:        c.datagramsIn.Load(),
		Malformed:          c.malformed.Load(),
		ReadErrors:         c.readErrors.Load(),
		PacketsOut:         c.packetsOut.Load(),
		SendErrors:         c.sendErrors.Load(),
		SendTooLarge:       c.sendTooLarge.Load(),
		SendUnbound:        c.sendUnbound.Load(),
		UnknownClient:      c.unknownClient.Load(),
		Ignored:            c.ignored.Load(),
		ClientsRejected:    c.clientsRejected.Load(),
		QoSMinus1In:        c.qosM1In.Load(),
		QoSMinus1Dropped:   c.qosM1Dropped.Load(),
		DeliveriesDropped:  c.deliveriesDropped.Load(),
		StaleEvents:        c.staleEvents.Load(),
		UpstreamErrors:     c.upstreamErrors.Load(),
		AdvertisesSent:     c.advertises.Load(),
		GWInfosSent:        c.gwinfos.Load(),
		WillsPublished:     c.wills.Load(),
		EncapsulatedIn:     c.encapsulatedIn.Load(),
		SessionsOpened:     c.sessionsOpened.Load(),
		SessionsTakenOver:  c.sessionsTakenOver.Load(),
		SessionsDropped:    c.sessionsDropped.Load(),
		UnsupportedNodeIDs: c.unsupportedNodeIDs.Load(),
		BufferOverflow:     c.bufferOverflow.Load(),
		NotBuffered:        c.notBuffered.Load(),
		DeliveriesTooLarge: c.deliveriesTooLarge.Load(),
	}
}
