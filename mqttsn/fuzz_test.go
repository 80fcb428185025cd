package mqttsn_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/mqttsntest"
)

// FuzzParse: Parse never panics, returns only *ParseError, and whatever
// it accepts encodes, parses back to the same value and re-encodes to the
// same octets. Seeded from every golden vector and every invalid case;
// crashers go to testdata/fuzz/FuzzParse and into invalidCases or
// regressionCases by name.
func FuzzParse(f *testing.F) {
	for _, v := range mqttsntest.Vectors(f) {
		f.Add(v.Bytes)
	}
	for _, tt := range invalidCases {
		f.Add(mustHex(f, tt.hex))
	}
	for _, tt := range regressionCases {
		f.Add(mustHex(f, tt.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParseRoundTrip(t, b)
	})
}

func checkParseRoundTrip(t *testing.T, b []byte) {
	t.Helper()
	orig := bytes.Clone(b)
	var p mqttsn.Packet
	err := mqttsn.Parse(b, &p)
	if !bytes.Equal(b, orig) {
		t.Fatalf("Parse modified its input")
	}
	if err != nil {
		var pe *mqttsn.ParseError
		if !errors.As(err, &pe) || pe.Err == nil || pe.Error() == "" {
			t.Fatalf("Parse error %#v is not a complete *ParseError", err)
		}
		return
	}
	_ = p.String()
	enc, err := p.AppendBinary(nil)
	if err != nil {
		t.Fatalf("AppendBinary of parsed %s: %v", p.String(), err)
	}
	var q mqttsn.Packet
	if err := mqttsn.Parse(enc, &q); err != nil {
		t.Fatalf("Parse(AppendBinary(% X) = % X): %v", b, enc, err)
	}
	if d := cmp.Diff(p, q); d != "" {
		t.Fatalf("parse -> append -> parse mismatch for % X (-first +second):\n%s", b, d)
	}
	enc2, err := q.AppendBinary(nil)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("re-encoding differs: % X then % X (%v)", enc, enc2, err)
	}
	if p.Type == mqttsn.TypeEncapsulated {
		var inner mqttsn.Packet
		if err := mqttsn.Parse(p.Encapsulated.Message, &inner); err == nil {
			checkParseRoundTrip(t, p.Encapsulated.Message)
		}
	}
}

// regressionCases are inputs FuzzParse found interesting (or that once
// failed), kept as named cases: each must not panic and must round-trip
// when valid.
var regressionCases = []struct {
	name string
	hex  string
}{
	{"unused flag bits ignored on publish", "08 0C 1C 00 01 00 00 78"},
	{"unused flag bits ignored on connect", "07 04 F3 01 00 3C 63"},
	{"reserved ctrl bits ignored", "04 FE FC 01 02 17"},
	{"3-octet form for a short message", "01 00 05 0D 00"},
	{"3-octet encapsulation", "01 00 06 FE 00 01 02 17"},
	{"encapsulated inner 3-octet form", "04 FE 00 01 01 00 04 17"},
	{"suback rejected 0xFFFF", "08 13 00 FF FF 00 03 01"},
	{"short publish topic 0x0000", "08 0C 02 00 00 00 00 78"},
	{"puback topic id 0", "07 0D 00 00 00 07 00"},
}

func TestRegressionCases(t *testing.T) {
	for _, tt := range regressionCases {
		t.Run(tt.name, func(t *testing.T) {
			checkParseRoundTrip(t, mustHex(t, tt.hex))
		})
	}
}

// TestParseAllShortDatagrams runs the FuzzParse property on every
// datagram of one and two octets and on every 3-octet message.
func TestParseAllShortDatagrams(t *testing.T) {
	b := make([]byte, 3)
	for i := 0; i < 256; i++ {
		b[0] = byte(i)
		checkParseRoundTrip(t, b[:1])
		for j := 0; j < 256; j++ {
			b[1] = byte(j)
			checkParseRoundTrip(t, b[:2])
		}
	}
	b[0] = 3
	for j := 0; j < 256; j++ {
		for k := 0; k < 256; k++ {
			b[1], b[2] = byte(j), byte(k)
			checkParseRoundTrip(t, b)
		}
	}
}
