package mqttsntest

import (
	"bytes"
	"testing"
)

func TestParseHex(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []byte
		wantErr  bool
	}{
		{"annotated", "# title\n0C  # Length\n0C # MsgType\n00 01   # TopicId\n\n", []byte{0x0C, 0x0C, 0x00, 0x01}, false},
		{"no spaces", "0a0B\n", []byte{0x0A, 0x0B}, false},
		{"empty", "# only a comment\n", nil, false},
		{"odd digits", "0A 1\n", nil, true},
		{"not hex", "zz # x\n", nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHex(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseHex error = %v, want error %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("ParseHex = % X, want % X", got, tt.want)
			}
		})
	}
}

func TestVectorsLoad(t *testing.T) {
	vs := Vectors(t)
	for _, v := range vs {
		if len(v.Bytes) < 2 {
			t.Errorf("%s: %d octets, want at least a header", v.Name, len(v.Bytes))
		}
	}
	if len(vs) < 28 {
		t.Errorf("loaded %d vectors, want at least one per message type", len(vs))
	}
}
