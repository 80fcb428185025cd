package session_test

import (
	"fmt"
	"time"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/session"
)

// The gateway loop feeds events with the current time and carries out
// the effects in order; here a client connects and publishes at QoS 1.
func Example() {
	s := session.New(session.Config{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []session.Effect
	show := func() {
		for _, e := range out {
			switch e.Kind {
			case session.EffSend:
				fmt.Println("send", e.Packet.Type)
			case session.EffOpenUpstream:
				fmt.Println("open upstream for", e.ClientID)
			case session.EffPublish:
				fmt.Printf("publish %q qos %v msg_id %d\n", e.Topic, e.QoS, e.MsgID)
			case session.EffStateChanged:
				fmt.Println("state", e.From, "->", e.To)
			}
		}
	}
	step := func(ev session.Event) { out = s.Step(now, ev, out[:0]); show() }
	packet := func(p mqttsn.Packet) { step(session.Event{Kind: session.EvPacket, Packet: &p}) }

	packet(mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{
		Flags: mqttsn.Flags{CleanSession: true}, ProtocolID: mqttsn.ProtocolID, Duration: 60, ClientID: []byte("sensor1")}})
	step(session.Event{Kind: session.EvUpstreamOpened}) // the upstream session is up
	packet(mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{MsgID: 1, TopicName: []byte("site/temp")}})
	packet(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{
		Flags: mqttsn.Flags{QoS: mqttsn.QoS1}, TopicID: 1, MsgID: 2, Data: []byte("21.5")}})
	step(session.Event{Kind: session.EvPublished, MsgID: 2}) // the broker acknowledged
	fmt.Println("next deadline in", s.NextDeadline().Sub(now))
	// Output:
	// state disconnected -> connecting
	// open upstream for sensor1
	// send CONNACK
	// state connecting -> active
	// send REGACK
	// publish "site/temp" qos 1 msg_id 2
	// send PUBACK
	// next deadline in 1m30s
}
