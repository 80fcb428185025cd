package mqttsn_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/snbridge/snbridge/mqttsn"
)

// invalidCases lists one datagram per validation rule of Parse, with the
// error it must give. Crashers found by FuzzParse are added here by name.
var invalidCases = []struct {
	name  string
	hex   string
	typ   mqttsn.MsgType
	field string
	off   int
	err   error
}{
	// Header [MQTT-SN 1.2 §5.2]
	{"empty datagram", "", 0xFF, "Length", 0, mqttsn.ErrTruncated},
	{"length 0", "00 0C", 0x0C, "Length", 0, mqttsn.ErrLength},
	{"length 1 without uint16", "01 00", 0xFF, "Length", 0, mqttsn.ErrTruncated},
	{"3-octet length below 4", "01 00 03 17", 0x17, "Length", 0, mqttsn.ErrLength},
	{"3-octet length 0", "01 00 00", 0xFF, "Length", 0, mqttsn.ErrLength},
	{"no MsgType", "02", 0xFF, "MsgType", 1, mqttsn.ErrTruncated},
	{"3-octet no MsgType", "01 00 04", 0xFF, "MsgType", 3, mqttsn.ErrTruncated},
	{"length above datagram", "05 0C 00", mqttsn.TypePublish, "Length", 0, mqttsn.ErrTruncated},
	{"3-octet length above datagram", "01 00 10 17", mqttsn.TypePingresp, "Length", 0, mqttsn.ErrTruncated},
	{"length below datagram", "02 17 00", mqttsn.TypePingresp, "Length", 2, mqttsn.ErrTrailing},
	{"reserved type 0x03", "02 03", 0x03, "MsgType", 1, mqttsn.ErrReserved},
	{"reserved type 0x11", "02 11", 0x11, "MsgType", 1, mqttsn.ErrReserved},
	{"reserved type 0x19", "02 19", 0x19, "MsgType", 1, mqttsn.ErrReserved},
	{"reserved type 0x1E", "02 1E", 0x1E, "MsgType", 1, mqttsn.ErrReserved},
	{"reserved type 0xFD", "01 00 04 FD", 0xFD, "MsgType", 3, mqttsn.ErrReserved},
	{"reserved type 0xFF", "02 FF", 0xFF, "MsgType", 1, mqttsn.ErrReserved},

	// Fixed-size messages: truncated and trailing fields
	{"advertise no duration", "04 00 01 03", mqttsn.TypeAdvertise, "Duration", 3, mqttsn.ErrTruncated},
	{"advertise trailing", "06 00 01 00 10 FF", mqttsn.TypeAdvertise, "Length", 5, mqttsn.ErrTrailing},
	{"searchgw no radius", "02 01", mqttsn.TypeSearchGW, "Radius", 2, mqttsn.ErrTruncated},
	{"searchgw trailing", "04 01 00 00", mqttsn.TypeSearchGW, "Length", 3, mqttsn.ErrTrailing},
	{"gwinfo no gwid", "02 02", mqttsn.TypeGWInfo, "GwId", 2, mqttsn.ErrTruncated},
	{"connack no return code", "02 05", mqttsn.TypeConnack, "ReturnCode", 2, mqttsn.ErrTruncated},
	{"connack trailing", "04 05 00 00", mqttsn.TypeConnack, "Length", 3, mqttsn.ErrTrailing},
	{"willtopicreq trailing", "03 06 00", mqttsn.TypeWillTopicReq, "Length", 2, mqttsn.ErrTrailing},
	{"willmsgreq trailing", "03 08 00", mqttsn.TypeWillMsgReq, "Length", 2, mqttsn.ErrTrailing},
	{"pingresp trailing", "03 17 00", mqttsn.TypePingresp, "Length", 2, mqttsn.ErrTrailing},
	{"regack no return code", "06 0B 00 01 00 01", mqttsn.TypeRegack, "ReturnCode", 6, mqttsn.ErrTruncated},
	{"regack trailing", "08 0B 00 01 00 01 00 00", mqttsn.TypeRegack, "Length", 7, mqttsn.ErrTrailing},
	{"publish no msgid", "05 0C 00 00 01", mqttsn.TypePublish, "MsgId", 5, mqttsn.ErrTruncated},
	{"publish no flags", "02 0C", mqttsn.TypePublish, "Flags", 2, mqttsn.ErrTruncated},
	{"puback no return code", "06 0D 00 01 00 07", mqttsn.TypePuback, "ReturnCode", 6, mqttsn.ErrTruncated},
	{"puback trailing", "08 0D 00 01 00 07 00 00", mqttsn.TypePuback, "Length", 7, mqttsn.ErrTrailing},
	{"pubrec short msgid", "03 0F 00", mqttsn.TypePubrec, "MsgId", 2, mqttsn.ErrTruncated},
	{"pubrel trailing", "05 10 00 01 00", mqttsn.TypePubrel, "Length", 4, mqttsn.ErrTrailing},
	{"pubcomp no msgid", "02 0E", mqttsn.TypePubcomp, "MsgId", 2, mqttsn.ErrTruncated},
	{"unsuback trailing", "05 15 00 01 00", mqttsn.TypeUnsuback, "Length", 4, mqttsn.ErrTrailing},
	{"suback no return code", "07 13 20 00 01 00 03", mqttsn.TypeSuback, "ReturnCode", 7, mqttsn.ErrTruncated},
	{"suback trailing", "09 13 20 00 01 00 03 00 00", mqttsn.TypeSuback, "Length", 8, mqttsn.ErrTrailing},
	{"subscribe no msgid", "03 12 20", mqttsn.TypeSubscribe, "MsgId", 3, mqttsn.ErrTruncated},
	{"subscribe short name 1 octet", "06 12 02 00 05 74", mqttsn.TypeSubscribe, "TopicId", 5, mqttsn.ErrTruncated},
	{"subscribe short name 3 octets", "08 12 02 00 05 74 31 32", mqttsn.TypeSubscribe, "Length", 7, mqttsn.ErrTrailing},
	{"subscribe predefined trailing", "08 12 01 00 05 00 10 00", mqttsn.TypeSubscribe, "Length", 7, mqttsn.ErrTrailing},
	{"unsubscribe predefined no id", "05 14 01 00 05", mqttsn.TypeUnsubscribe, "TopicId", 5, mqttsn.ErrTruncated},
	{"disconnect half duration", "03 18 0E", mqttsn.TypeDisconnect, "Duration", 2, mqttsn.ErrTruncated},
	{"disconnect trailing", "05 18 0E 10 00", mqttsn.TypeDisconnect, "Length", 4, mqttsn.ErrTrailing},
	{"willtopicresp trailing", "04 1B 00 00", mqttsn.TypeWillTopicResp, "Length", 3, mqttsn.ErrTrailing},
	{"willmsgresp no return code", "02 1D", mqttsn.TypeWillMsgResp, "ReturnCode", 2, mqttsn.ErrTruncated},

	// CONNECT [MQTT-SN 1.2 §5.4.4, §5.3.1, §5.3.8]
	{"connect no duration", "05 04 04 01 00", mqttsn.TypeConnect, "Duration", 4, mqttsn.ErrTruncated},
	{"connect no client id", "06 04 04 01 00 3C", mqttsn.TypeConnect, "ClientId", 6, mqttsn.ErrClientID},
	{"connect client id 24 octets", "1E 04 04 01 00 3C" + strings.Repeat("61", 24), mqttsn.TypeConnect, "ClientId", 6, mqttsn.ErrClientID},
	{"connect protocol id 2", "07 04 04 02 00 3C 63", mqttsn.TypeConnect, "ProtocolId", 3, mqttsn.ErrProtocolID},
	{"connect protocol id 0", "07 04 04 00 00 3C 63", mqttsn.TypeConnect, "ProtocolId", 3, mqttsn.ErrProtocolID},
	{"pingreq client id 24 octets", "1A 16" + strings.Repeat("61", 24), mqttsn.TypePingreq, "ClientId", 2, mqttsn.ErrClientID},

	// Return codes 0x04-0xFF are reserved [MQTT-SN 1.2 §5.3.10]
	{"connack reserved return code", "03 05 04", mqttsn.TypeConnack, "ReturnCode", 2, mqttsn.ErrReserved},
	{"regack reserved return code", "07 0B 00 01 00 01 FF", mqttsn.TypeRegack, "ReturnCode", 6, mqttsn.ErrReserved},
	{"puback reserved return code", "07 0D 00 01 00 07 04", mqttsn.TypePuback, "ReturnCode", 6, mqttsn.ErrReserved},
	{"suback reserved return code", "08 13 20 00 01 00 03 80", mqttsn.TypeSuback, "ReturnCode", 7, mqttsn.ErrReserved},
	{"willtopicresp reserved return code", "03 1B 05", mqttsn.TypeWillTopicResp, "ReturnCode", 2, mqttsn.ErrReserved},
	{"willmsgresp reserved return code", "03 1D 10", mqttsn.TypeWillMsgResp, "ReturnCode", 2, mqttsn.ErrReserved},

	// QoS -1 only in PUBLISH, and there only with a pre-defined or short
	// topic [MQTT-SN 1.2 §5.3.4, §6.8]
	{"publish qos -1 normal topic id", "08 0C 60 00 01 00 00 78", mqttsn.TypePublish, "Flags", 2, mqttsn.ErrQoS},
	{"subscribe qos -1", "08 12 60 00 03 61 2F 62", mqttsn.TypeSubscribe, "Flags", 2, mqttsn.ErrQoS},
	{"suback qos -1", "08 13 60 00 01 00 03 00", mqttsn.TypeSuback, "Flags", 2, mqttsn.ErrQoS},
	{"willtopic qos -1", "04 07 60 74", mqttsn.TypeWillTopic, "Flags", 2, mqttsn.ErrQoS},
	{"willtopicupd qos -1", "04 1A 70 74", mqttsn.TypeWillTopicUpd, "Flags", 2, mqttsn.ErrQoS},

	// TopicIdType 0b11 is reserved [MQTT-SN 1.2 §5.3.4]
	{"publish reserved topic id type", "08 0C 03 00 01 00 00 78", mqttsn.TypePublish, "Flags", 2, mqttsn.ErrReserved},
	{"subscribe reserved topic id type", "07 12 03 00 03 00 01", mqttsn.TypeSubscribe, "Flags", 2, mqttsn.ErrReserved},
	{"unsubscribe reserved topic id type", "07 14 03 00 03 00 01", mqttsn.TypeUnsubscribe, "Flags", 2, mqttsn.ErrReserved},

	// Empty topic names
	{"register empty topic name", "06 0A 00 00 00 01", mqttsn.TypeRegister, "TopicName", 6, mqttsn.ErrEmptyTopic},
	{"subscribe empty topic name", "05 12 20 00 03", mqttsn.TypeSubscribe, "TopicName", 5, mqttsn.ErrEmptyTopic},
	{"unsubscribe empty topic name", "05 14 00 00 03", mqttsn.TypeUnsubscribe, "TopicName", 5, mqttsn.ErrEmptyTopic},
	{"willtopic flags without topic", "03 07 20", mqttsn.TypeWillTopic, "WillTopic", 3, mqttsn.ErrEmptyTopic},
	{"willtopicupd flags without topic", "03 1A 00", mqttsn.TypeWillTopicUpd, "WillTopic", 3, mqttsn.ErrEmptyTopic},

	// Reserved topic ids 0x0000 and 0xFFFF [MQTT-SN 1.2 §5.3.11]
	{"publish normal topic id 0x0000", "08 0C 00 00 00 00 00 78", mqttsn.TypePublish, "TopicId", 3, mqttsn.ErrTopicID},
	{"publish normal topic id 0xFFFF", "08 0C 20 FF FF 00 01 78", mqttsn.TypePublish, "TopicId", 3, mqttsn.ErrTopicID},
	{"publish predefined topic id 0x0000", "08 0C 01 00 00 00 00 78", mqttsn.TypePublish, "TopicId", 3, mqttsn.ErrTopicID},
	{"publish qos -1 predefined 0xFFFF", "08 0C 61 FF FF 00 00 78", mqttsn.TypePublish, "TopicId", 3, mqttsn.ErrTopicID},
	{"register topic id 0xFFFF", "07 0A FF FF 00 01 61", mqttsn.TypeRegister, "TopicId", 2, mqttsn.ErrTopicID},
	{"regack accepted topic id 0x0000", "07 0B 00 00 00 01 00", mqttsn.TypeRegack, "TopicId", 2, mqttsn.ErrTopicID},
	{"regack accepted topic id 0xFFFF", "07 0B FF FF 00 01 00", mqttsn.TypeRegack, "TopicId", 2, mqttsn.ErrTopicID},
	{"suback accepted topic id 0xFFFF", "08 13 00 FF FF 00 03 00", mqttsn.TypeSuback, "TopicId", 3, mqttsn.ErrTopicID},
	{"subscribe predefined 0x0000", "07 12 01 00 03 00 00", mqttsn.TypeSubscribe, "TopicId", 5, mqttsn.ErrTopicID},
	{"unsubscribe predefined 0xFFFF", "07 14 01 00 03 FF FF", mqttsn.TypeUnsubscribe, "TopicId", 5, mqttsn.ErrTopicID},

	// Forwarder Encapsulation [MQTT-SN 1.2 §5.5]
	{"encapsulated no ctrl", "02 FE", mqttsn.TypeEncapsulated, "Ctrl", 2, mqttsn.ErrTruncated},
	{"encapsulated empty node id", "03 FE 00 02 17", mqttsn.TypeEncapsulated, "WirelessNodeId", 3, mqttsn.ErrTruncated},
	{"encapsulated no message", "04 FE 00 01", mqttsn.TypeEncapsulated, "Message", 4, mqttsn.ErrTruncated},
	{"encapsulated message longer than rest", "04 FE 00 01 05 0C 00", mqttsn.TypeEncapsulated, "Message", 4, mqttsn.ErrTruncated},
	{"encapsulated message shorter than rest", "04 FE 00 01 02 17 00", mqttsn.TypeEncapsulated, "Message", 6, mqttsn.ErrTrailing},
	{"encapsulated message length 0", "04 FE 00 01 00 17", mqttsn.TypeEncapsulated, "Message", 4, mqttsn.ErrLength},
	{"encapsulated message without type", "04 FE 00 01 02", mqttsn.TypeEncapsulated, "Message", 5, mqttsn.ErrTruncated},
	{"encapsulated nested", "04 FE 00 01 04 FE 00 02 02 17", mqttsn.TypeEncapsulated, "Message", 5, mqttsn.ErrNested},
	{"encapsulated length above datagram", "09 FE 00 01", mqttsn.TypeEncapsulated, "Length", 0, mqttsn.ErrTruncated},
}

func TestParseInvalid(t *testing.T) {
	for _, tt := range invalidCases {
		t.Run(tt.name, func(t *testing.T) {
			b := mustHex(t, tt.hex)
			var p mqttsn.Packet
			err := mqttsn.Parse(b, &p)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(% X) = %v, want %v", b, err, tt.err)
			}
			var pe *mqttsn.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %T is not a *ParseError", err)
			}
			if pe.Type != tt.typ || pe.Field != tt.field || pe.Off != tt.off {
				t.Errorf("Parse(% X) = {%v %s %d}, want {%v %s %d}", b, pe.Type, pe.Field, pe.Off, tt.typ, tt.field, tt.off)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %s", err, tt.field)
			}
		})
	}
}

// TestMessageLength covers the helper transports use for framing.
func TestMessageLength(t *testing.T) {
	for _, tt := range []struct {
		hex     string
		n, hdr  int
		wantErr error
	}{
		{"07 0C 00", 7, 1, nil},
		{"01 01 35 0C", 309, 3, nil},
		{"02 17", 2, 1, nil},
		{"", 0, 0, mqttsn.ErrTruncated},
		{"00 0C", 0, 0, mqttsn.ErrLength},
		{"01 00 02 0C", 0, 0, mqttsn.ErrLength},
		{"01 00", 0, 0, mqttsn.ErrTruncated},
		{"07", 0, 0, mqttsn.ErrTruncated},
	} {
		n, hdr, err := mqttsn.MessageLength(mustHex(t, tt.hex))
		if n != tt.n || hdr != tt.hdr || !errors.Is(err, tt.wantErr) {
			t.Errorf("MessageLength(%s) = %d, %d, %v; want %d, %d, %v", tt.hex, n, hdr, err, tt.n, tt.hdr, tt.wantErr)
		}
	}
}

// TestAppendInvalid: AppendBinary applies the rules of Parse and leaves
// the buffer unchanged on error.
func TestAppendInvalid(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 65532)
	id24 := bytes.Repeat([]byte{'c'}, 24)
	for _, tt := range []struct {
		name  string
		p     mqttsn.Packet
		field string
		err   error
	}{
		{"reserved type", mqttsn.Packet{Type: 0x19}, "MsgType", mqttsn.ErrReserved},
		{"connect empty client id", mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{ProtocolID: 1}}, "ClientId", mqttsn.ErrClientID},
		{"connect client id 24", mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{ProtocolID: 1, ClientID: id24}}, "ClientId", mqttsn.ErrClientID},
		{"connect protocol id 0", mqttsn.Packet{Type: mqttsn.TypeConnect, Connect: mqttsn.Connect{ClientID: []byte("c")}}, "ProtocolId", mqttsn.ErrProtocolID},
		{"pingreq client id 24", mqttsn.Packet{Type: mqttsn.TypePingreq, Pingreq: mqttsn.Pingreq{ClientID: id24}}, "ClientId", mqttsn.ErrClientID},
		{"connack reserved code", mqttsn.Packet{Type: mqttsn.TypeConnack, Connack: mqttsn.Connack{ReturnCode: 4}}, "ReturnCode", mqttsn.ErrReserved},
		{"puback reserved code", mqttsn.Packet{Type: mqttsn.TypePuback, Puback: mqttsn.Puback{ReturnCode: 9}}, "ReturnCode", mqttsn.ErrReserved},
		{"willmsgresp reserved code", mqttsn.Packet{Type: mqttsn.TypeWillMsgResp, WillMsgResp: mqttsn.WillMsgResp{ReturnCode: 4}}, "ReturnCode", mqttsn.ErrReserved},
		{"publish qos 3", mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 3}, TopicID: 1}}, "Flags", mqttsn.ErrQoS},
		{"publish qos -1 normal", mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: -1}, TopicID: 1}}, "Flags", mqttsn.ErrQoS},
		{"publish topic id type 3", mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{TopicIDType: 3}, TopicID: 1}}, "Flags", mqttsn.ErrReserved},
		{"publish topic id 0", mqttsn.Packet{Type: mqttsn.TypePublish}, "TopicId", mqttsn.ErrTopicID},
		{"publish too long", mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{TopicID: 1, Data: long}}, "Length", mqttsn.ErrTooLong},
		{"register empty name", mqttsn.Packet{Type: mqttsn.TypeRegister}, "TopicName", mqttsn.ErrEmptyTopic},
		{"register 0xFFFF", mqttsn.Packet{Type: mqttsn.TypeRegister, Register: mqttsn.Register{TopicID: 0xFFFF, TopicName: []byte("a")}}, "TopicId", mqttsn.ErrTopicID},
		{"regack accepted 0", mqttsn.Packet{Type: mqttsn.TypeRegack}, "TopicId", mqttsn.ErrTopicID},
		{"subscribe qos -1", mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: -1}, TopicName: []byte("a")}}, "Flags", mqttsn.ErrQoS},
		{"subscribe empty name", mqttsn.Packet{Type: mqttsn.TypeSubscribe}, "TopicName", mqttsn.ErrEmptyTopic},
		{"subscribe predefined 0", mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{TopicIDType: mqttsn.TopicIDPredefined}}}, "TopicId", mqttsn.ErrTopicID},
		{"unsubscribe type 3", mqttsn.Packet{Type: mqttsn.TypeUnsubscribe, Unsubscribe: mqttsn.Unsubscribe{Flags: mqttsn.Flags{TopicIDType: 3}}}, "Flags", mqttsn.ErrReserved},
		{"suback qos -1", mqttsn.Packet{Type: mqttsn.TypeSuback, Suback: mqttsn.Suback{Flags: mqttsn.Flags{QoS: -1}}}, "Flags", mqttsn.ErrQoS},
		{"suback accepted 0xFFFF", mqttsn.Packet{Type: mqttsn.TypeSuback, Suback: mqttsn.Suback{TopicID: 0xFFFF}}, "TopicId", mqttsn.ErrTopicID},
		{"willtopic qos -1", mqttsn.Packet{Type: mqttsn.TypeWillTopic, WillTopic: mqttsn.WillTopic{Flags: mqttsn.Flags{QoS: -1}, Topic: []byte("w")}}, "Flags", mqttsn.ErrQoS},
		{"willtopicupd qos 5", mqttsn.Packet{Type: mqttsn.TypeWillTopicUpd, WillTopicUpd: mqttsn.WillTopicUpd{Flags: mqttsn.Flags{QoS: 5}, Topic: []byte("w")}}, "Flags", mqttsn.ErrQoS},
		{"willmsg too long", mqttsn.Packet{Type: mqttsn.TypeWillMsg, WillMsg: mqttsn.WillMsg{Msg: long}}, "Length", mqttsn.ErrTooLong},
		{"encapsulated radius 4", mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{Radius: 4, NodeID: []byte{1}, Message: []byte{2, 0x17}}}, "Ctrl", mqttsn.ErrReserved},
		{"encapsulated empty node id", mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{Message: []byte{2, 0x17}}}, "WirelessNodeId", mqttsn.ErrTruncated},
		{"encapsulated empty message", mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{NodeID: []byte{1}}}, "Message", mqttsn.ErrTruncated},
		{"encapsulated bad message length", mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{NodeID: []byte{1}, Message: []byte{3, 0x17}}}, "Message", mqttsn.ErrTruncated},
		{"encapsulated nested", mqttsn.Packet{Type: mqttsn.TypeEncapsulated, Encapsulated: mqttsn.Encapsulated{NodeID: []byte{1}, Message: []byte{4, 0xFE, 0, 1}}}, "Message", mqttsn.ErrNested},
	} {
		t.Run(tt.name, func(t *testing.T) {
			buf := []byte{0xAA}
			got, err := tt.p.AppendBinary(buf)
			if !errors.Is(err, tt.err) {
				t.Fatalf("AppendBinary = %v, want %v", err, tt.err)
			}
			var ee *mqttsn.EncodeError
			if !errors.As(err, &ee) || ee.Field != tt.field || ee.Type != tt.p.Type {
				t.Errorf("AppendBinary error = %#v, want field %s type %v", ee, tt.field, tt.p.Type)
			}
			if !bytes.Equal(got, buf) {
				t.Errorf("AppendBinary changed the buffer on error: % X", got)
			}
		})
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
