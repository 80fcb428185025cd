package mqttsn_test

import (
	"errors"
	"fmt"

	"github.com/snbridge/snbridge/mqttsn"
)

func ExampleParse() {
	datagram := []byte{0x0B, 0x0C, 0x20, 0x00, 0x01, 0x00, 0x07, '2', '1', '.', '5'}

	var p mqttsn.Packet // reuse one Packet per reader
	if err := mqttsn.Parse(datagram, &p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.String())
	// p.Publish.Data aliases datagram: copy it to keep it.
	fmt.Printf("%s %s\n", p.Type, p.Publish.Data)

	// Answer with a PUBACK, appended to a reusable buffer.
	ack := mqttsn.Puback{TopicID: p.Publish.TopicID, MsgID: p.Publish.MsgID, ReturnCode: mqttsn.Accepted}
	out, _ := ack.AppendBinary(make([]byte, 0, 64))
	fmt.Printf("% X\n", out)

	// A reserved topic id is a typed error naming the field.
	err := mqttsn.Parse([]byte{0x08, 0x0C, 0x00, 0xFF, 0xFF, 0x00, 0x00, 'x'}, &p)
	fmt.Println(err, errors.Is(err, mqttsn.ErrTopicID))
	// Output:
	// PUBLISH qos=1 topic_id_type=normal topic_id=0x0001 msg_id=7 data="21.5"
	// PUBLISH 21.5
	// 07 0D 00 01 00 07 00
	// mqttsn: parse PUBLISH: TopicId at offset 3: reserved topic id true
}

func ExamplePacket_AppendBinary() {
	p := mqttsn.Packet{Type: mqttsn.TypeConnect}
	p.Connect = mqttsn.Connect{
		Flags:      mqttsn.Flags{CleanSession: true},
		ProtocolID: mqttsn.ProtocolID,
		Duration:   60,
		ClientID:   []byte("sensor-1"),
	}
	b, err := p.AppendBinary(nil)
	fmt.Printf("% X %v\n", b, err)
	// Output:
	// 0E 04 04 01 00 3C 73 65 6E 73 6F 72 2D 31 <nil>
}

func ExampleMatchTopic() {
	fmt.Println(mqttsn.MatchTopic("sensors/+/temp", "sensors/t1/temp"))
	fmt.Println(mqttsn.MatchTopic("sensors/#", "sensors"))
	fmt.Println(mqttsn.MatchTopic("#", "$SYS/uptime"))
	// Output:
	// true
	// true
	// false
}
