package xbee

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snbridge/snbridge/transport"
)

var modes = []APIMode{APIMode1, APIMode2}

// escapy is an MQTT-SN PUBLISH whose bytes need escaping in API mode 2.
var escapy = []byte{0x0F, 0x0C, 0x00, 0x7E, 0x7D, 0x00, 0x11, 0x13, 0x7E, 0x7D, 0x11, 0x13, 0x7E, 0x7D, 0x11}

const (
	sensorA = 0x0013A20040A1B201
	sensorB = 0x0013A20040A1B202
)

func TestConfigValidate(t *testing.T) {
	if err := (Config{Device: "/dev/ttyUSB0"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := Config{Baud: 12345, APIMode: 3, DataBits: 9, Parity: "mark", StopBits: 3,
		FlowControl: "xonxoff", MaxPayload: 256}.Validate()
	for _, want := range []string{
		"device: required", "baud: unsupported rate 12345", "api_mode: 3", "data_bits: 9",
		`parity: "mark"`, "stop_bits: 3", `flow_control: "xonxoff"`, "max_payload: 256",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
	if _, err := New(Config{Device: "x", APIMode: 7}); err == nil {
		t.Error("New accepted api_mode 7")
	}
}

func TestFrameIDs(t *testing.T) {
	c, err := New(Config{Device: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[uint8]int{}
	for range 3 * 255 {
		c.mu.Lock()
		id := c.frameIDLocked()
		c.mu.Unlock()
		if id == 0 {
			t.Fatal("frame id 0 handed out")
		}
		seen[id]++
	}
	if len(seen) != 255 {
		t.Errorf("%d distinct ids, want 255", len(seen))
	}
}

func TestQueueFull(t *testing.T) {
	c, err := New(Config{Device: filepath.Join(t.TempDir(), "none"), QueueLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-c.txFree // the only buffer is taken, as by a stalled writer
	if _, err := c.WriteTo([]byte{1}, transport.XBeeAddr(sensorA)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("WriteTo with a full queue: %v, want ErrQueueFull", err)
	}
	if s := c.Stats(); s.TxQueueFull != 1 {
		t.Errorf("TxQueueFull = %d, want 1", s.TxQueueFull)
	}
}

func TestParseEUI64(t *testing.T) {
	for _, s := range []string{"0013A20040A1B2C3", "0x0013a20040a1b2c3", "00:13:A2:00:40:A1:B2:C3", "0013A200 40A1B2C3"} {
		if v, err := ParseEUI64(s); err != nil || v != 0x0013A20040A1B2C3 {
			t.Errorf("ParseEUI64(%q) = %x, %v", s, v, err)
		}
	}
	for _, s := range []string{"", "13A2", "0013A20040A1B2C3FF", "xyz", "0013A20040A1B2CG"} {
		if _, err := ParseEUI64(s); err == nil {
			t.Errorf("ParseEUI64(%q) succeeded", s)
		}
	}
}

func TestReceiveQueueFull(t *testing.T) {
	c, err := New(Config{Device: filepath.Join(t.TempDir(), "none"), QueueLen: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		c.handleFrame((&RxPacket{Src64: sensorA, Data: []byte{byte(i + 1)}}).AppendFrameData(nil))
	}
	buf := make([]byte, 1)
	for i := range 2 {
		if n, _, err := c.ReadFrom(buf); err != nil || n != 1 || buf[0] != byte(i+1) {
			t.Fatalf("ReadFrom = %d %x %v, want datagram %d", n, buf, err, i+1)
		}
	}
	if s := c.Stats(); s.RxPackets != 2 || s.RxDropped != 1 {
		t.Errorf("RxPackets %d RxDropped %d, want 2 1", s.RxPackets, s.RxDropped)
	}
	// A datagram longer than the buffer is truncated and counted.
	c.handleFrame((&RxPacket{Src64: sensorA, Data: []byte{1, 2, 3}}).AppendFrameData(nil))
	if n, _, _ := c.ReadFrom(buf); n != 1 || c.Stats().RxTruncated != 1 {
		t.Errorf("short buffer: n %d, RxTruncated %d; want 1 1", n, c.Stats().RxTruncated)
	}
}
