// Package session is the per-client MQTT-SN v1.2 state machine of the
// gateway: the client states of §6.14 (active, asleep, awake, lost,
// disconnected, plus the gateway's own connecting), the CONNECT and will
// dialogue, the client's topic registry (its own ids, predefined ids and
// short names), the client's PUBLISH/SUBSCRIBE flows, deliveries towards
// the client with their REGISTER and QoS 1/2 flows, retransmission,
// keep-alive and sleep supervision, and the sleep buffer.
//
// # What it does not do
//
// It is pure code: no I/O, no goroutines, no clock reads, no logging.
// The caller passes the time into [Session.Step] with each [Event] and
// carries out the returned [Effect]s in order (send a packet, open or
// close the upstream session, publish, subscribe, publish the will). It
// arms one timer from [Session.NextDeadline] and feeds [EvTick] when it
// fires. A Session knows nothing of addresses or of other clients: the
// gateway routes packets to a Session by ClientId and address, and owns
// everything that spans clients: ClientId takeover between addresses,
// QoS -1 PUBLISH from addresses with no session, SEARCHGW/GWINFO and
// ADVERTISE, the maximum number of clients, dropping a Session whose
// state became Disconnected or Lost when it is not [Session.Persistent].
// It does not encode or decode: it works on [mqttsn.Packet] values.
//
// # Concurrency and buffers
//
// A Session is not safe for concurrent use; one goroutine (the gateway
// loop) owns it. Byte slices of an EvPacket's Packet alias the caller's
// read buffer during Step; an EffPublish produced from that packet
// aliases the same buffer (zero copies on the publish path), so the
// caller must copy Payload before it reuses the buffer (it must anyway,
// since bridge.Message payloads are owned by the receiver). Everything
// the Session keeps (client id, topic names, will message) it copies.
// An EvMessage Payload is kept by reference until delivered and must not
// be modified. Other byte slices in Effects stay valid until the next
// Step on the same Session.
//
// # Spec interpretation
//
// Where MQTT-SN 1.2 is silent or ambiguous, this package decides:
//
//   - Wills are published by the gateway itself (EffPublishWill), not
//     registered as the upstream MQTT will: WILLTOPICUPD/WILLMSGUPD can
//     change a will at any time without reconnecting upstream, and the
//     same code works in transparent and aggregating modes. The will is
//     published when the client is lost (keep-alive or sleep timer
//     expired, retransmissions exhausted), never after a DISCONNECT. The
//     will stays stored after publication (it is client data that §6.3
//     keeps for CleanSession=false); a CONNECT with CleanSession=true, an
//     empty WILLTOPIC or an empty WILLTOPICUPD deletes it.
//   - Will dialogue: the gateway does not retransmit WILLTOPICREQ or
//     WILLMSGREQ; §6.13 puts supervision on the client, which
//     retransmits CONNECT or WILLTOPIC or WILLMSG, and each is answered
//     again (a repeated WILLMSG after CONNACK gets CONNACK again). A
//     dialogue not finished within T_retry×(N_retry+1) of the last
//     message is abandoned: Disconnected, no will published (no
//     connection was established). An invalid will topic gets CONNACK
//     0x02.
//   - CONNACK is sent only once the upstream session is open; if it
//     cannot be opened, CONNACK 0x01 (congestion). An invalid ClientId
//     (not 1..23 octets) or ProtocolId gets CONNACK 0x03 (not supported).
//   - CleanSession=true (§6.3) discards subscriptions, registrations,
//     will, the client's unfinished QoS 2 PUBLISHes and every buffered or
//     queued message, and reopens the upstream session clean. This holds
//     for a CONNECT from an asleep or awake client as well: its buffered
//     messages belong to the discarded session and are counted in
//     Stats.Discarded. With CleanSession=false all of it is kept, across
//     DISCONNECT and loss, and a reconnect delivers what is buffered
//     (and re-sends the delivery that was in flight, with DUP).
//   - Keep-alive and sleep supervision use the §7.2 tolerance: +10% for
//     durations over one minute, +50% for one minute or less. Any packet
//     from the client restarts the timer; keep-alive 0 is not
//     supervised. While asleep only the sleep timer runs; while awake
//     only retransmission timers run (§6.14: the sleep timer is stopped
//     by PINGREQ and restarted after PINGRESP), except when nothing is
//     in flight (see the awake rules below).
//   - Invalid topic names or filters (REGISTER with a wildcard, SUBSCRIBE
//     with a malformed filter, WILLTOPICUPD with a wildcard) are
//     rejected with 0x02 "invalid topic ID", the spec's only
//     topic-related code, as for unknown predefined ids.
//   - An unknown topic id in a client PUBLISH gets PUBACK 0x02 at every
//     QoS, QoS 0 included (§6.6 "regardless of the requested QoS"). A
//     QoS 0 PUBLISH with a non-zero MsgId is accepted. A QoS -1 PUBLISH
//     reaching a session is forwarded at QoS 0 when its topic is a
//     predefined id of this client or a short name, in any state, and
//     dropped unanswered otherwise (§6.8).
//   - QoS 2 from the client is exactly-once by "forward on first
//     PUBLISH": the upstream publish starts on the first PUBLISH, PUBREC
//     follows the upstream's acknowledgement, and the MsgId is
//     remembered until PUBREL; a duplicate before PUBREL is not
//     forwarded again (answered with PUBREC once PUBREC was sent). A
//     PUBREL for an unknown MsgId gets PUBCOMP. A QoS 1 PUBACK likewise
//     waits for the upstream; an upstream failure is PUBACK 0x01.
//   - Packets from a client that is Disconnected or Lost (other than
//     CONNECT, DISCONNECT and QoS -1 PUBLISH) are answered with an
//     unsolicited DISCONNECT so that it connects again (§6.12). Packets
//     other than the will dialogue are ignored while Connecting. An
//     asleep or awake client that sends PUBLISH, REGISTER, SUBSCRIBE,
//     UNSUBSCRIBE or WILL*UPD is served as if active (real clients do
//     this) without changing its state; it restarts the sleep timer.
//   - SUBSCRIBE to a topic name without wildcards registers the name and
//     returns its id in SUBACK, and deliveries on it use that id (§6.10
//     "the gateway sends PUBLISH messages with the topic id value that
//     was returned in the SUBACK"); for a name that is predefined for the
//     client the SUBACK carries the predefined id and deliveries use it
//     (registered ids never equal a predefined id of the client, so the
//     two cannot be confused). A wildcard filter gets 0x0000 and
//     REGISTER on first delivery; a predefined or short subscription
//     echoes the requested id. Granted QoS is the upstream's grant,
//     capped at 2. Deliveries are held while a SUBSCRIBE awaits its
//     upstream answer, so that the SUBACK (and its topic id) reaches the
//     client before any message it announces, retained ones included.
//   - Topic ids in PUBLISH towards the client: the client's predefined id
//     for the topic, else its registered id (from SUBACK, its own
//     REGISTER or an earlier gateway REGISTER), else the short name of a
//     two-character topic, else a gateway REGISTER first. Registered ids
//     are never 0x0000, 0xFFFF or one of the client's predefined ids.
//   - A REGACK rejecting the gateway's REGISTER (0x02 or 0x03) drops the
//     message and acts as an unsubscribe from that topic name (§6.10):
//     later messages on it are dropped until the client subscribes to a
//     filter covering it again or starts a clean session. A REGACK 0x01
//     (congestion) drops only that message; the next one registers
//     again. A PUBACK 0x02 from the client deletes the registration, so
//     the next message on the topic registers again.
//   - Towards the client there is ONE ordered queue with one exchange in
//     flight (a REGISTER, or a QoS 1/2 PUBLISH and its PUBREL): QoS 0
//     messages wait behind a QoS 1/2 message rather than overtake it.
//     This satisfies §6.5 and §6.6 (one REGISTER, one QoS>0 PUBLISH
//     outstanding) and keeps publication order. MsgIds are allocated per
//     session and are never 0. The queue is bounded by MaxQueue while
//     active and SleepBuffer while asleep or awake; overflow drops the
//     oldest message and counts it (Stats.Overflow). Messages whose
//     REGISTER or PUBLISH exceeds MaxPacket are dropped silently (§6.10)
//     towards the client, counted in Stats.TooLarge; [Session.LastTooLarge]
//     tells the gateway which one, for its log.
//   - Retransmission (§6.13): REGISTER, QoS 1/2 PUBLISH (with DUP) and
//     PUBREL are re-sent every T_retry, up to N_retry times; at the next
//     timeout the client is Lost (will published). No retries run while
//     the client sleeps: the delivery in flight when the client falls
//     asleep (or disconnects, persistently) keeps its place at the front
//     of the queue and its MsgId, and is re-sent with DUP when the client
//     is awake or active again.
//   - Sleeping (§6.14): DISCONNECT with a Duration is acknowledged with a
//     DISCONNECT without one; a Duration of 0 is a plain DISCONNECT. A
//     new Duration while asleep or awake replaces the old one (and ends
//     an awake period without PINGRESP). While asleep or awake, QoS 0
//     messages are buffered only with BufferQoS0 (else counted in
//     Stats.NotBuffered); messages queued while active are kept whatever
//     their QoS. PINGREQ while asleep wakes the client: the messages
//     buffered at that moment are delivered in order, one exchange at a
//     time, and PINGRESP is sent only once the last of them is finished
//     (acknowledged for QoS 1/2); then the client is asleep again and the
//     sleep timer restarts. Messages arriving during the awake period
//     wait for the next wake-up, so that an awake period always ends. A
//     PINGREQ while already awake is ignored when a delivery is in
//     flight (it has its own retry timer). When nothing is in flight
//     (deliveries held because a SUBSCRIBE the client sent while asleep
//     still waits for the upstream), a repeated PINGREQ ends the awake
//     period at once with PINGRESP, and so does the sleep timer's time
//     (sleep duration plus tolerance after the last packet), rather than
//     losing the client: the upstream, not the client, is late. The held
//     messages stay buffered for the next wake-up. CONNECT while asleep
//     or awake makes the client active and (with CleanSession=false)
//     delivers everything buffered.
//   - DISCONNECT while Connecting is always a plain DISCONNECT. Closing
//     the upstream session (DISCONNECT, loss, a CONNECT that needs a
//     fresh upstream) forgets the SUBSCRIBE/UNSUBSCRIBE requests and
//     client QoS 1/2 PUBLISHes that still wait for the upstream: their
//     answers died with it, and the client retransmits them after
//     reconnecting. Client QoS 2 exchanges already answered with PUBREC
//     are kept until PUBREL. MaxInflight bounds client QoS 1/2
//     exchanges (awaiting the upstream or PUBREL) and pending SUBSCRIBEs
//     (and UNSUBSCRIBEs, dropped unanswered over the limit since
//     UNSUBACK has no return code).
//   - Persistence: [Session.Snapshot] and [Restore] carry the durable
//     state (registry, subscriptions, will, buffer, the delivery in
//     flight, client QoS 2 MsgIds awaiting PUBREL). A client that was
//     asleep or awake is restored Asleep: the sleep timer restarts when
//     the gateway feeds EvRestored, the buffer is kept, the delivery
//     that was in flight is re-sent with DUP at the next wake-up, and a
//     PINGREQ wakes it as usual (it is not made to reconnect, since a
//     clean CONNECT would discard its buffer). Any other client is
//     restored Disconnected: its next packet gets an unsolicited
//     DISCONNECT and its CONNECT with CleanSession=false finds everything.
//     No will is published for a restored client. At EvRestored an
//     asleep or persistent session re-opens its upstream session with
//     its own CleanSession flag and re-subscribes its stored
//     subscriptions (answers are not shown to the client; retained
//     messages come again, as after any SUBSCRIBE); one that is not
//     asleep then closes it without discarding, so the broker keeps its
//     messages until the client reconnects, unless EvRestored says the
//     upstream kept the broker session (Event.Kept): then it opens
//     nothing and the client's CONNECT resumes it. If the upstream session
//     cannot be opened then, the next PINGREQ of the asleep client (or
//     its CONNECT) tries again. [Session.Changes] tells the gateway when
//     a new snapshot is worth saving.
//   - With Config.HoldUpstream (a gateway whose broker does not keep
//     sessions across its restarts) a persistent client's upstream
//     session stays open while it is disconnected or lost, so its
//     messages queue here and are saved with the snapshot.
//   - Lost and Disconnected clients keep their data only when
//     persistent (CleanSession=false). Their upstream session is closed
//     (a persistent broker session queues their messages upstream), but
//     a message that still reaches a persistent one (a straggler of the
//     closing upstream session, or what a resumed broker session hands
//     over while a restored session re-subscribes) is queued for the
//     reconnect, bounded by MaxQueue, QoS 0 only with BufferQoS0; for a
//     clean one it is discarded (Stats.Discarded).
package session
