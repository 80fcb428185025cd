package xbee

import (
	"errors"
	"fmt"
)

// Bytes with a special meaning on the wire.
const (
	StartDelimiter = 0x7E // starts every API frame; never escaped
	escapeByte     = 0x7D // API mode 2: the next byte is XORed with escapeXOR
	xonByte        = 0x11
	xoffByte       = 0x13
	escapeXOR      = 0x20
)

// MaxFrameData is the largest frame data length the 16-bit length field
// can express.
const MaxFrameData = 0xFFFF

// DefaultMaxFrame is the frame data length above which a [Decoder] built
// with a zero maximum treats a length field as impossible. It covers the
// largest ZigBee RF payload with fragmentation (255 octets) plus headers.
const DefaultMaxFrame = 512

// readChunk is the input size the decoder's buffer is first sized for
// (one serial read).
const readChunk = 4096

// APIMode is the framing the radio uses (the AP setting of an XBee).
type APIMode uint8

// API modes.
const (
	// APIMode1 sends frames unescaped (AP=1).
	APIMode1 APIMode = 1
	// APIMode2 escapes 0x7E, 0x7D, 0x11 and 0x13 after the start
	// delimiter as 0x7D followed by the byte XOR 0x20 (AP=2).
	APIMode2 APIMode = 2
)

func (m APIMode) String() string {
	switch m {
	case APIMode1:
		return "api1"
	case APIMode2:
		return "api2"
	}
	return fmt.Sprintf("APIMode(%d)", uint8(m))
}

// Valid reports whether m is API mode 1 or 2.
func (m APIMode) Valid() bool { return m == APIMode1 || m == APIMode2 }

var (
	errEmptyFrame = errors.New("xbee: empty frame data")
	errLongFrame  = errors.New("xbee: frame data longer than 65535 bytes")
	errBadMode    = errors.New("xbee: api mode must be 1 or 2")
)

// Checksum returns the API frame checksum of frame data: 0xFF minus the
// low 8 bits of the sum of its bytes.
func Checksum(data []byte) byte {
	var sum byte
	for _, c := range data {
		sum += c
	}
	return 0xFF - sum
}

// needsEscape reports whether c is escaped in API mode 2.
func needsEscape(c byte) bool {
	return c == StartDelimiter || c == escapeByte || c == xonByte || c == xoffByte
}

// AppendFrame appends the wire form of one API frame carrying data (the
// frame data: API identifier byte first) to dst and returns the extended
// buffer. In [APIMode2] the length, data and checksum are escaped; the
// start delimiter never is. It allocates only when dst must grow.
func AppendFrame(dst []byte, mode APIMode, data []byte) ([]byte, error) {
	if !mode.Valid() {
		return dst, errBadMode
	}
	if len(data) == 0 {
		return dst, errEmptyFrame
	}
	if len(data) > MaxFrameData {
		return dst, errLongFrame
	}
	dst = append(dst, StartDelimiter)
	if mode == APIMode1 {
		dst = append(dst, byte(len(data)>>8), byte(len(data)))
		dst = append(dst, data...)
		return append(dst, Checksum(data)), nil
	}
	dst = appendEscaped(dst, byte(len(data)>>8))
	dst = appendEscaped(dst, byte(len(data)))
	for _, c := range data {
		dst = appendEscaped(dst, c)
	}
	return appendEscaped(dst, Checksum(data)), nil
}

func appendEscaped(dst []byte, c byte) []byte {
	if needsEscape(c) {
		return append(dst, escapeByte, c^escapeXOR)
	}
	return append(dst, c)
}

// DecoderStats counts what a [Decoder] has seen. Each kind of error is
// counted separately; after every error the decoder resynchronises on the
// next start delimiter.
type DecoderStats struct {
	Bytes        uint64 // bytes fed
	Frames       uint64 // whole frames with a good checksum
	SkippedBytes uint64 // bytes passed over while looking for a start delimiter (garbage, remains of broken frames)
	BadChecksum  uint64 // frames whose checksum did not match
	BadLength    uint64 // length fields of 0 or above the maximum
	Truncated    uint64 // frames cut short by a new start delimiter (mode 2) or by Idle
}

// Decoder splits a byte stream from a radio into API frames. Feed it
// whatever the serial port returned, then call Next until it reports no
// frame. It is not safe for concurrent use.
//
// Resynchronisation: after garbage, a bad checksum, an impossible length
// or a truncated frame, the decoder looks for the next 0x7E after the
// start delimiter of the frame it gave up on, so a good frame that was
// swallowed by a broken one is still found. In API mode 2 an unescaped
// 0x7E always starts a new frame.
type Decoder struct {
	mode APIMode
	max  int

	raw []byte // input not yet consumed
	// Parse state over raw.
	start int  // index in raw of the current candidate's 0x7E, or -1 while hunting
	pos   int  // next index of raw to look at
	esc   bool // mode 2: the previous byte was an escape
	need  int  // unescaped bytes after 0x7E for the candidate (len+3), 0 until known

	frame []byte // unescaped length, data and checksum of the candidate
	idle  bool   // Idle was called and no input came since
	stats DecoderStats
}

// NewDecoder returns a Decoder for mode that rejects frames with more than
// maxFrame bytes of frame data; maxFrame <= 0 means [DefaultMaxFrame], and
// values above [MaxFrameData] are clamped to it.
func NewDecoder(mode APIMode, maxFrame int) *Decoder {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	maxFrame = min(maxFrame, MaxFrameData)
	return &Decoder{
		mode:  mode,
		max:   maxFrame,
		start: -1,
		raw:   make([]byte, 0, maxFrame+readChunk),
		frame: make([]byte, 0, maxFrame+3),
	}
}

// Stats returns the counters so far.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Reset drops buffered input and any partial frame (after a reconnect).
// The counters are kept.
func (d *Decoder) Reset() {
	d.raw = d.raw[:0]
	d.start, d.pos, d.esc, d.need = -1, 0, false, 0
	d.frame = d.frame[:0]
	d.idle = false
}

// Feed appends p to the decoder's input. It does not keep p.
func (d *Decoder) Feed(p []byte) {
	d.stats.Bytes += uint64(len(p))
	if len(p) > 0 {
		d.idle = false
	}
	// Drop what is consumed: everything before the candidate, or before
	// pos while hunting.
	keep := d.pos
	if d.start >= 0 {
		keep = d.start
	}
	if keep > 0 {
		n := copy(d.raw, d.raw[keep:])
		d.raw = d.raw[:n]
		d.pos -= keep
		if d.start >= 0 {
			d.start = 0
		}
	}
	d.raw = append(d.raw, p...)
}

// Idle tells the decoder that the line went quiet: the buffered input is
// all there is until the next Feed. Until then, Next gives up any partial
// frame (counted as truncated) and searches the input after its start
// delimiter again, so call Next until it reports no frame. Radios send a
// frame without gaps, so the transport calls Idle after a read timeout; in
// API mode 1 this is what recovers from a truncated frame whose length
// field swallowed the frames after it.
func (d *Decoder) Idle() { d.idle = true }

// Partial reports whether the decoder holds the start of a frame.
func (d *Decoder) Partial() bool { return d.start >= 0 }

// giveUp abandons the candidate and rescans from the byte after its 0x7E.
func (d *Decoder) giveUp() {
	d.pos = d.start + 1
	d.start = -1
}

// Next returns the frame data (API identifier byte first) of the next
// whole frame with a good checksum, or ok == false when more input is
// needed. The returned slice aliases the decoder's buffer and is valid
// until the next call to Next, Feed or Reset.
func (d *Decoder) Next() (data []byte, ok bool) {
	for {
		if d.start < 0 && !d.hunt() {
			return nil, false
		}
		frame, got, more := d.parse()
		if got {
			return frame, true
		}
		if more {
			continue
		}
		if !d.idle {
			return nil, false
		}
		// The line is quiet and the candidate is incomplete.
		d.stats.Truncated++
		d.giveUp()
	}
}

// hunt looks for the next start delimiter from pos and makes it the
// candidate. It reports false when the input holds none.
func (d *Decoder) hunt() bool {
	for i := d.pos; i < len(d.raw); i++ {
		if d.raw[i] == StartDelimiter {
			d.stats.SkippedBytes += uint64(i - d.pos)
			d.start, d.pos = i, i+1
			d.esc, d.need = false, 0
			d.frame = d.frame[:0]
			return true
		}
	}
	d.stats.SkippedBytes += uint64(len(d.raw) - d.pos)
	d.raw, d.pos = d.raw[:0], 0
	return false
}

// parse advances the candidate over the buffered input. It returns a
// frame, or more == true when the candidate was given up and the caller
// should hunt again, or neither when the input ran out.
func (d *Decoder) parse() (data []byte, ok, more bool) {
	for d.pos < len(d.raw) {
		c := d.raw[d.pos]
		if d.mode == APIMode2 {
			if c == StartDelimiter {
				// An unescaped 0x7E cannot be inside a mode 2 frame: the
				// candidate was cut short and a new frame starts here.
				d.stats.Truncated++
				d.start = -1
				return nil, false, true
			}
			d.pos++
			if d.esc {
				c ^= escapeXOR
				d.esc = false
			} else if c == escapeByte {
				d.esc = true
				continue
			}
		} else {
			d.pos++
		}
		d.frame = append(d.frame, c)
		switch {
		case len(d.frame) == 2:
			n := int(d.frame[0])<<8 | int(d.frame[1])
			if n == 0 || n > d.max {
				d.stats.BadLength++
				d.giveUp()
				return nil, false, true
			}
			d.need = n + 3
		case len(d.frame) == d.need:
			var sum byte
			for _, b := range d.frame[2:] {
				sum += b
			}
			if sum != 0xFF {
				d.stats.BadChecksum++
				d.giveUp()
				return nil, false, true
			}
			d.stats.Frames++
			d.start = -1
			return d.frame[2 : d.need-1], true, false
		}
	}
	return nil, false, false
}
