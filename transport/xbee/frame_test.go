package xbee

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// digiTx is the Transmit Request example of the XBee Zigbee manual:
// frame id 1 to 0013A200400A0127/FFFE carrying "TxData0A".
const digiTx = "10 01 0013A200400A0127 FFFE 00 00 5478446174613041"

func TestAppendFrame(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode APIMode
		data string
		want string
	}{
		{"digi tx api1", APIMode1, digiTx, "7E 0016" + digiTx + "13"},
		// The checksum 0x13 is escaped in mode 2.
		{"digi tx api2", APIMode2, digiTx, "7E 0016 10 01 007D33A200400A0127 FFFE 00 00 5478446174613041 7D33"},
		{"escapes api2", APIMode2, "90 7E 7D 11 13 00", "7E 0006 90 7D5E 7D5D 7D31 7D33 00 50"},
		{"no escapes api1", APIMode1, "90 7E 7D 11 13 00", "7E 0006 90 7E 7D 11 13 00 50"},
		// Length 0x7E is escaped in mode 2.
		{"escaped length", APIMode2, "8A" + strings.Repeat("00", 0x7D), "7E 007D5E 8A" + strings.Repeat("00", 0x7D) + "75"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendFrame([]byte("x"), tt.mode, unhex(t, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte("x"), unhex(t, tt.want)...)
			if !bytes.Equal(got, want) {
				t.Errorf("AppendFrame\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestAppendFrameErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode APIMode
		data []byte
	}{
		{"empty", APIMode1, nil},
		{"too long", APIMode2, make([]byte, MaxFrameData+1)},
		{"mode 0", 0, []byte{1}},
		{"mode 3", 3, []byte{1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendFrame(nil, tt.mode, tt.data)
			if err == nil || len(got) != 0 {
				t.Errorf("AppendFrame = %x, %v; want an error and nothing appended", got, err)
			}
		})
	}
}

// decodeAll feeds in to a decoder in chunks of size chunk and returns
// copies of every frame.
func decodeAll(d *Decoder, in []byte, chunk int) [][]byte {
	var out [][]byte
	for len(in) > 0 {
		n := min(chunk, len(in))
		d.Feed(in[:n])
		in = in[n:]
		for {
			f, ok := d.Next()
			if !ok {
				break
			}
			out = append(out, bytes.Clone(f))
		}
	}
	return out
}

func frame(t testing.TB, mode APIMode, data []byte) []byte {
	t.Helper()
	b, err := AppendFrame(nil, mode, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecoderChunking(t *testing.T) {
	frames := [][]byte{
		unhex(t, digiTx),
		unhex(t, "90 0013A20040A1B2C3 7E7D 02 7E7D1113 0C04 00"),
		unhex(t, "8A 02"),
		unhex(t, "8B 11 FFFE 00 00 00"),
	}
	for _, mode := range []APIMode{APIMode1, APIMode2} {
		var stream []byte
		for _, f := range frames {
			stream = append(stream, frame(t, mode, f)...)
		}
		for chunk := 1; chunk <= len(stream); chunk++ {
			d := NewDecoder(mode, 0)
			got := decodeAll(d, stream, chunk)
			if diff := cmp.Diff(frames, got); diff != "" {
				t.Fatalf("%v chunk %d: frames mismatch (-want +got):\n%s", mode, chunk, diff)
			}
			want := DecoderStats{Bytes: uint64(len(stream)), Frames: uint64(len(frames))}
			if diff := cmp.Diff(want, d.Stats()); diff != "" {
				t.Fatalf("%v chunk %d: stats mismatch (-want +got):\n%s", mode, chunk, diff)
			}
		}
	}
}

func TestDecoderResync(t *testing.T) {
	good := unhex(t, "90 0013A20040A1B2C3 1234 01 7E7D1113")
	for _, tt := range []struct {
		name  string
		mode  APIMode
		bad   func(mode APIMode) []byte
		idle  bool // the line goes quiet after the bad bytes
		stats DecoderStats
	}{
		{
			name:  "garbage",
			mode:  APIMode1,
			bad:   func(APIMode) []byte { return []byte("hello\x00\xff") },
			stats: DecoderStats{SkippedBytes: 7},
		},
		{
			name: "bad checksum api1",
			mode: APIMode1,
			bad: func(m APIMode) []byte {
				f := frame(t, m, unhex(t, "8A 02"))
				f[len(f)-1]++
				return f
			},
			stats: DecoderStats{BadChecksum: 1, SkippedBytes: 5},
		},
		{
			name: "bad checksum api2",
			mode: APIMode2,
			bad: func(m APIMode) []byte {
				f := frame(t, m, unhex(t, "8A 02"))
				f[len(f)-1]++
				return f
			},
			stats: DecoderStats{BadChecksum: 1, SkippedBytes: 5},
		},
		{
			name:  "length 0",
			mode:  APIMode1,
			bad:   func(APIMode) []byte { return unhex(t, "7E 0000 FF") },
			stats: DecoderStats{BadLength: 1, SkippedBytes: 3},
		},
		{
			name:  "length FFFF",
			mode:  APIMode2,
			bad:   func(APIMode) []byte { return unhex(t, "7E FFFF 90 00 01") },
			stats: DecoderStats{BadLength: 1, SkippedBytes: 5},
		},
		{
			name:  "truncated api2",
			mode:  APIMode2,
			bad:   func(m APIMode) []byte { return frame(t, m, good)[:9] },
			stats: DecoderStats{Truncated: 1},
		},
		{
			// In mode 1 the truncated frame's length swallows the good
			// frame; the quiet line gives it up and the rescan finds it.
			name:  "truncated api1 then idle",
			mode:  APIMode1,
			bad:   func(m APIMode) []byte { return frame(t, m, good)[:9] },
			idle:  true,
			stats: DecoderStats{Truncated: 1, SkippedBytes: 8},
		},
		{
			name: "truncated api1 without idle",
			mode: APIMode1,
			// Bad checksum once the length is reached: the good frame
			// inside is found by the rescan.
			bad: func(m APIMode) []byte {
				return append(unhex(t, "7E 0020 90 01"), frame(t, m, good)...)
			},
			stats: DecoderStats{BadChecksum: 1, SkippedBytes: 4, Frames: 1},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.mode, 0)
			bad := tt.bad(tt.mode)
			got := decodeAll(d, bad, 3)
			if tt.idle {
				d.Idle()
				for {
					f, ok := d.Next()
					if !ok {
						break
					}
					got = append(got, bytes.Clone(f))
				}
			}
			goodFrame := frame(t, tt.mode, good)
			got = append(got, decodeAll(d, append(goodFrame, goodFrame...), 5)...)
			if len(got) < 2 || !bytes.Equal(got[len(got)-1], good) || !bytes.Equal(got[len(got)-2], good) {
				t.Fatalf("frames after %x: got %x, want the good frame twice at the end", bad, got)
			}
			want := tt.stats
			want.Frames += 2
			want.Bytes = uint64(len(bad) + 2*len(goodFrame))
			if diff := cmp.Diff(want, d.Stats()); diff != "" {
				t.Errorf("stats mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecoderMaxFrame(t *testing.T) {
	d := NewDecoder(APIMode1, 16)
	big := frame(t, APIMode1, make([]byte, 17))
	ok := frame(t, APIMode1, unhex(t, "8A 00"))
	got := decodeAll(d, append(big, ok...), len(big)+len(ok))
	if len(got) != 1 || !bytes.Equal(got[0], unhex(t, "8A 00")) {
		t.Fatalf("frames = %x, want only 8A00", got)
	}
	if s := d.Stats(); s.BadLength != 1 {
		t.Errorf("BadLength = %d, want 1", s.BadLength)
	}
}

func TestDecoderReset(t *testing.T) {
	d := NewDecoder(APIMode2, 0)
	f := frame(t, APIMode2, unhex(t, "8A 00"))
	d.Feed(f[:3])
	if _, ok := d.Next(); ok || !d.Partial() {
		t.Fatalf("after half a frame: want no frame and a partial one")
	}
	d.Reset()
	if got := decodeAll(d, f, 100); len(got) != 1 {
		t.Fatalf("after Reset: frames = %x, want one", got)
	}
}

func TestDecodeAllocs(t *testing.T) {
	for _, mode := range []APIMode{APIMode1, APIMode2} {
		d := NewDecoder(mode, 0)
		f := frame(t, mode, unhex(t, "90 0013A20040A1B2C3 1234 01 7E7D1113 0C04 0001 68656C6C6F"))
		var rx RxPacket
		allocs := testing.AllocsPerRun(1000, func() {
			for i := 0; i < len(f); i += 7 {
				d.Feed(f[i:min(i+7, len(f))])
			}
			data, ok := d.Next()
			if !ok {
				t.Fatal("no frame")
			}
			if err := rx.Parse(data); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocs per decoded frame, want 0", mode, allocs)
		}
	}
}

func TestFrameTypes(t *testing.T) {
	t.Run("rx packet", func(t *testing.T) {
		want := RxPacket{Src64: 0x0013A20040A1B2C3, Src16: 0x1234, Options: RxAcknowledged, Data: []byte{0x7E, 1}}
		var got RxPacket
		if err := got.Parse(want.AppendFrameData(nil)); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	})
	t.Run("tx request", func(t *testing.T) {
		var got TxRequest
		if err := got.Parse(unhex(t, digiTx)); err != nil {
			t.Fatal(err)
		}
		want := TxRequest{FrameID: 1, Dst64: 0x0013A200400A0127, Dst16: 0xFFFE, Data: []byte("TxData0A")}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Parse (-want +got):\n%s", d)
		}
		if b := want.AppendFrameData(nil); !bytes.Equal(b, unhex(t, digiTx)) {
			t.Errorf("AppendFrameData = %x, want %s", b, digiTx)
		}
	})
	t.Run("tx status", func(t *testing.T) {
		var got TxStatus
		if err := got.Parse(unhex(t, "8B 47 1234 02 21 01")); err != nil {
			t.Fatal(err)
		}
		want := TxStatus{FrameID: 0x47, Dst16: 0x1234, Retries: 2, Delivery: DeliveryNetworkAckFail, Discovery: 1}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Parse (-want +got):\n%s", d)
		}
		if b := want.AppendFrameData(nil); !bytes.Equal(b, unhex(t, "8B 47 1234 02 21 01")) {
			t.Errorf("AppendFrameData = %x", b)
		}
	})
	t.Run("modem status", func(t *testing.T) {
		s, err := ParseModemStatus([]byte{0x8A, 0x02})
		if err != nil || s != ModemJoined || s.String() != "joined network" {
			t.Errorf("ParseModemStatus = %v, %v; want joined network", s, err)
		}
	})
	t.Run("at response", func(t *testing.T) {
		want := ATResponse{FrameID: 3, Command: [2]byte{'S', 'H'}, Data: []byte{0, 0x13, 0xA2, 0}}
		var got ATResponse
		if err := got.Parse(want.AppendFrameData(nil)); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	})
	t.Run("short frames", func(t *testing.T) {
		var rx RxPacket
		var ts TxStatus
		var tx TxRequest
		var at ATResponse
		var ac ATCommand
		for _, err := range []error{
			rx.Parse([]byte{0x90, 1, 2}),
			ts.Parse([]byte{0x8B, 1}),
			tx.Parse([]byte{0x10}),
			at.Parse([]byte{0x88, 1, 'S'}),
			ac.Parse([]byte{0x08, 1}),
			rx.Parse([]byte{0x8B, 1}),
			rx.Parse(nil),
		} {
			if err == nil {
				t.Error("Parse of a short or wrong frame succeeded")
			}
		}
		if _, err := ParseModemStatus([]byte{0x8A}); err == nil {
			t.Error("ParseModemStatus of a short frame succeeded")
		}
	})
}
