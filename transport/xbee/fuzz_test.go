package xbee

import (
	"bytes"
	"testing"
)

// FuzzFrameDecoder feeds arbitrary bytes to the decoder and checks its
// invariants:
//   - it never panics, and every frame it yields has a good checksum, a
//     length within the maximum, and is counted in Stats;
//   - a frame encoded by AppendFrame decodes back whatever the chunking;
//   - after arbitrary garbage (and, in API mode 1, a quiet line), the next
//     good frame is delivered.
func FuzzFrameDecoder(f *testing.F) {
	f.Add(uint8(1), []byte{}, []byte{0x8A, 0x02}, uint8(1))
	f.Add(uint8(2), []byte("garbage"), []byte{0x90, 0x7E, 0x7D, 0x11, 0x13}, uint8(3))
	f.Add(uint8(2), []byte{0x7E, 0xFF, 0xFF, 0x7D}, []byte{0x10, 1, 2, 3}, uint8(0))
	f.Add(uint8(1), []byte{0x7E, 0x00, 0x01, 0x81}, []byte{0x8B, 1, 0xFF, 0xFE, 0, 0, 0}, uint8(7))
	f.Add(uint8(1), []byte{0x7E, 0x00, 0x00, 0x7E, 0x00, 0x10, 0x90}, []byte{0x90}, uint8(2))
	f.Add(uint8(2), []byte{0x7E, 0x7D, 0x5E, 0x7D}, []byte{0x7E}, uint8(5))
	f.Fuzz(func(t *testing.T, modeSel uint8, garbage, data []byte, chunkSel uint8) {
		mode := APIMode(modeSel%2 + 1)
		chunk := int(chunkSel%32) + 1
		const maxFrame = 64

		// Arbitrary input: whatever comes out is a well-formed frame.
		d := NewDecoder(mode, maxFrame)
		got := feedChunks(t, d, garbage, chunk, maxFrame)
		d.Idle()
		got += drain(t, d, maxFrame)
		if s := d.Stats(); s.Frames != uint64(got) || s.Bytes != uint64(len(garbage)) {
			t.Fatalf("stats %+v after %d frames from %d bytes", s, got, len(garbage))
		}
		if d.Partial() {
			t.Fatalf("partial frame left after Idle and Next")
		}

		if len(data) == 0 || len(data) > maxFrame {
			return
		}
		enc, err := AppendFrame(nil, mode, data)
		if err != nil {
			t.Fatalf("AppendFrame(%v, %x): %v", mode, data, err)
		}
		if mode == APIMode2 && bytes.IndexByte(enc[1:], StartDelimiter) >= 0 {
			t.Fatalf("mode 2 frame %x has an unescaped 0x7E", enc)
		}

		// A good frame after the garbage is delivered, and it is the last
		// frame. In mode 2 an unescaped 0x7E always starts a frame, so no
		// quiet line is needed; in mode 1 the garbage's partial frame
		// could swallow it, which is what Idle is for (done above).
		var last []byte
		for c := range splitChunks(enc, chunk) {
			d.Feed(c)
			for {
				f, ok := d.Next()
				if !ok {
					break
				}
				last = append(last[:0], f...)
			}
		}
		if !bytes.Equal(last, data) {
			t.Fatalf("%v: after garbage %x, frame %x decoded as %x", mode, garbage, data, last)
		}

		// Garbage fed to a mode 2 decoder without a quiet line: still fine.
		if mode == APIMode2 {
			d2 := NewDecoder(mode, maxFrame)
			d2.Feed(garbage)
			d2.Feed(enc)
			last = last[:0]
			for {
				f, ok := d2.Next()
				if !ok {
					break
				}
				last = append(last[:0], f...)
			}
			if !bytes.Equal(last, data) {
				t.Fatalf("mode 2 without idle: frame %x decoded as %x", data, last)
			}
		}
	})
}

func splitChunks(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func feedChunks(t *testing.T, d *Decoder, in []byte, chunk, maxFrame int) int {
	n := 0
	for c := range splitChunks(in, chunk) {
		d.Feed(c)
		n += drain(t, d, maxFrame)
	}
	return n
}

func drain(t *testing.T, d *Decoder, maxFrame int) int {
	n := 0
	for {
		f, ok := d.Next()
		if !ok {
			return n
		}
		n++
		if len(f) == 0 || len(f) > maxFrame {
			t.Fatalf("frame of %d bytes, max %d", len(f), maxFrame)
		}
		// Re-encoding and decoding the frame gives it back.
		enc, err := AppendFrame(nil, d.mode, f)
		if err != nil {
			t.Fatal(err)
		}
		d2 := NewDecoder(d.mode, maxFrame)
		d2.Feed(enc)
		g, ok := d2.Next()
		if !ok || !bytes.Equal(g, f) {
			t.Fatalf("frame %x re-decoded as %x, %v", f, g, ok)
		}
	}
}
