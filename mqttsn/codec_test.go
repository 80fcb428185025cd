package mqttsn_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/mqttsntest"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/mqttsn")

// TestVectors parses every golden vector, compares its String rendering
// with the .golden file, re-encodes it to the same octets and parses the
// result back to the same value.
func TestVectors(t *testing.T) {
	for _, v := range mqttsntest.Vectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			var p mqttsn.Packet
			if err := mqttsn.Parse(v.Bytes, &p); err != nil {
				t.Fatalf("Parse(% X): %v", v.Bytes, err)
			}
			checkGolden(t, v, p.String()+"\n")

			enc, err := p.AppendBinary(nil)
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.Equal(enc, v.Bytes) {
				t.Errorf("AppendBinary:\n got % X\nwant % X", enc, v.Bytes)
			}
			var q mqttsn.Packet
			if err := mqttsn.Parse(enc, &q); err != nil {
				t.Fatalf("Parse(AppendBinary): %v", err)
			}
			if d := cmp.Diff(p, q); d != "" {
				t.Errorf("round trip mismatch (-first +second):\n%s", d)
			}
		})
	}
}

func checkGolden(t *testing.T, v mqttsntest.Vector, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(v.Golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(v.Golden)
	if err != nil {
		t.Fatalf("%v (run go test ./mqttsn -update)", err)
	}
	if got != string(want) {
		t.Errorf("String() mismatch with %s:\n got %s\nwant %s", v.Golden, got, want)
	}
}

// TestVectorsCoverEveryType requires a vector per message type.
func TestVectorsCoverEveryType(t *testing.T) {
	seen := map[mqttsn.MsgType]bool{}
	for _, v := range mqttsntest.Vectors(t) {
		var p mqttsn.Packet
		if err := mqttsn.Parse(v.Bytes, &p); err == nil {
			seen[p.Type] = true
		}
	}
	for i := 0; i < 256; i++ {
		if typ := mqttsn.MsgType(i); typ.Valid() && !seen[typ] {
			t.Errorf("no vector for %v", typ)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	for _, v := range mqttsntest.Vectors(t) {
		var p mqttsn.Packet
		allocs := testing.AllocsPerRun(100, func() {
			if err := mqttsn.Parse(v.Bytes, &p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Parse(%s) allocates %v times, want 0", v.Name, allocs)
		}
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	for _, v := range mqttsntest.Vectors(t) {
		var p mqttsn.Packet
		if err := mqttsn.Parse(v.Bytes, &p); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := p.AppendBinary(buf[:0]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("AppendBinary(%s) into a large enough buffer allocates %v times, want 0", v.Name, allocs)
		}
	}
}

// TestEncapsulatedInner parses the inner message of each encapsulation
// vector with a second call to Parse.
func TestEncapsulatedInner(t *testing.T) {
	n := 0
	for _, v := range mqttsntest.Vectors(t) {
		var p mqttsn.Packet
		if err := mqttsn.Parse(v.Bytes, &p); err != nil || p.Type != mqttsn.TypeEncapsulated {
			continue
		}
		n++
		var inner mqttsn.Packet
		if err := mqttsn.Parse(p.Encapsulated.Message, &inner); err != nil {
			t.Errorf("%s: inner Parse: %v", v.Name, err)
		}
		if len(p.Encapsulated.NodeID) == 0 {
			t.Errorf("%s: empty NodeID", v.Name)
		}
	}
	if n == 0 {
		t.Fatal("no encapsulation vectors")
	}
}

// TestLengthForms checks the 1-octet/3-octet boundary on encode and that
// Parse accepts the 3-octet form for a message that would fit in one.
func TestLengthForms(t *testing.T) {
	for _, tt := range []struct {
		data    int
		wantHdr []byte
	}{
		{0, []byte{7, 0x0C}},
		{248, []byte{255, 0x0C}},                // 2+5+248 = 255: still 1 octet
		{249, []byte{0x01, 1, 2, 0x0C}},         // 4+5+249 = 258
		{65526, []byte{0x01, 0xFF, 0xFF, 0x0C}}, // the longest message
	} {
		p := mqttsn.Packet{Type: mqttsn.TypePublish}
		p.Publish.TopicID = 1
		p.Publish.Data = bytes.Repeat([]byte{'x'}, tt.data)
		enc, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("data %d: %v", tt.data, err)
		}
		if !bytes.HasPrefix(enc, tt.wantHdr) {
			t.Errorf("data %d: header % X, want % X", tt.data, enc[:len(tt.wantHdr)], tt.wantHdr)
		}
		var q mqttsn.Packet
		if err := mqttsn.Parse(enc, &q); err != nil || len(q.Publish.Data) != tt.data {
			t.Errorf("data %d: Parse = %v, %d octets", tt.data, err, len(q.Publish.Data))
		}
	}

	// A PINGRESP in the 3-octet form: accepted ("may use the shorter
	// 1-octet format" [MQTT-SN 1.2 §5.2.1]), re-encoded in the short form.
	long := []byte{0x01, 0x00, 0x04, 0x17}
	var p mqttsn.Packet
	if err := mqttsn.Parse(long, &p); err != nil || p.Type != mqttsn.TypePingresp {
		t.Fatalf("Parse(% X) = %v, type %v", long, err, p.Type)
	}
	if enc, _ := p.AppendBinary(nil); !bytes.Equal(enc, []byte{0x02, 0x17}) {
		t.Errorf("re-encoded as % X, want 02 17", enc)
	}
}

// TestParseSetsFieldsOnValueErrors: after a value-rule error, the message
// fields are set so that a gateway can answer.
func TestParseSetsFieldsOnValueErrors(t *testing.T) {
	var p mqttsn.Packet
	err := mqttsn.Parse([]byte{0x08, 0x0C, 0x20, 0x00, 0x00, 0x00, 0x07, 'x'}, &p)
	if !errors.Is(err, mqttsn.ErrTopicID) {
		t.Fatalf("Parse = %v, want ErrTopicID", err)
	}
	if p.Type != mqttsn.TypePublish || p.Publish.MsgID != 7 || p.Publish.Flags.QoS != mqttsn.QoS1 {
		t.Errorf("fields not set: %v", p.String())
	}
	err = mqttsn.Parse([]byte{0x07, 0x04, 0x04, 0x02, 0x00, 0x3C, 'c'}, &p)
	if !errors.Is(err, mqttsn.ErrProtocolID) {
		t.Fatalf("Parse = %v, want ErrProtocolID", err)
	}
	if p.Type != mqttsn.TypeConnect || p.Connect.ProtocolID != 2 || string(p.Connect.ClientID) != "c" {
		t.Errorf("fields not set: %v", p.String())
	}
}

// TestParseLeavesOtherFields: Parse overwrites only the selected field.
func TestParseLeavesOtherFields(t *testing.T) {
	var p mqttsn.Packet
	p.Connack.ReturnCode = mqttsn.RejectedCongestion
	if err := mqttsn.Parse([]byte{0x02, 0x17}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Connack.ReturnCode != mqttsn.RejectedCongestion {
		t.Error("Parse of PINGRESP changed Connack")
	}
}

func TestFlags(t *testing.T) {
	for i := 0; i < 256; i++ {
		b := byte(i)
		if got := mqttsn.ParseFlags(b).Byte(); got != b {
			t.Errorf("ParseFlags(%#02x).Byte() = %#02x", b, got)
		}
	}
	f := mqttsn.ParseFlags(0xE6)
	want := mqttsn.Flags{DUP: true, QoS: mqttsn.QoSMinus1, CleanSession: true, TopicIDType: mqttsn.TopicIDShort}
	if f != want {
		t.Errorf("ParseFlags(0xE6) = %+v, want %+v", f, want)
	}
	if s := f.String(); s != "dup qos=-1 clean topic_id_type=short" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseErrorString(t *testing.T) {
	var p mqttsn.Packet
	err := mqttsn.Parse([]byte{0x06, 0x05, 0x00}, &p)
	const want = "mqttsn: parse CONNACK: Length at offset 0: truncated"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	var pe *mqttsn.ParseError
	if !errors.As(err, &pe) || pe.Type != mqttsn.TypeConnack || pe.Field != "Length" {
		t.Errorf("errors.As = %+v", pe)
	}
	p.Type = mqttsn.MsgType(0x03)
	_, err = p.AppendBinary(nil)
	if err == nil || !errors.Is(err, mqttsn.ErrReserved) || !strings.Contains(err.Error(), "encode RESERVED(0x03): MsgType") {
		t.Errorf("AppendBinary(reserved) = %v", err)
	}
}

func TestReturnCodeAndTypeStrings(t *testing.T) {
	if s := mqttsn.TypePublish.String(); s != "PUBLISH" {
		t.Error(s)
	}
	if s := mqttsn.RejectedInvalidTopicID.String(); s != "rejected: invalid topic id" {
		t.Error(s)
	}
}

func TestPacketMsgID(t *testing.T) {
	withID := map[string]uint16{}
	for _, v := range mqttsntest.Vectors(t) {
		var p mqttsn.Packet
		if err := mqttsn.Parse(v.Bytes, &p); err != nil {
			t.Fatal(err)
		}
		id, ok := p.MsgID()
		if p.Type != mqttsn.TypeEncapsulated && strings.Contains(p.String(), " msg_id=") != ok {
			t.Errorf("%s: MsgID ok = %v for %s", v.Name, ok, p.String())
		}
		if ok {
			withID[v.Name] = id
		}
	}
	if withID["publish_qos1_retain"] != 7 || withID["subscribe_short"] != 5 || withID["unsuback"] != 6 {
		t.Errorf("MsgID values: %v", withID)
	}
}

// TestGoldenFilesHaveVectors catches .golden files left behind by a
// renamed or deleted vector.
func TestGoldenFilesHaveVectors(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join(mqttsntest.Dir(), "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".hex"); err != nil {
			t.Errorf("%s has no .hex vector", g)
		}
	}
}
