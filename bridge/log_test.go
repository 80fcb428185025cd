package bridge_test

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/rs/zerolog"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/mqttsn"
)

// logBuffer collects log lines written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns every JSON log line written so far, decoded.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLogFields: at debug level the per-packet lines name the client
// (client_id), and msg_id, topic_id and qos where the packet has them;
// qos is a JSON number in every line that has it.
func TestLogFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs logBuffer
		e := startLoop(t, func(c *bridge.Config) { c.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel) })
		c := e.client(t, 1)
		c.connect("logc", true, 60)
		id := c.register("log/t", 7)
		c.send(mqttsn.Packet{Type: mqttsn.TypePublish, Publish: mqttsn.Publish{Flags: mqttsn.Flags{QoS: 1}, TopicID: id, MsgID: 8, Data: []byte("x")}})
		c.expect(mqttsn.TypePuback)
		c.send(mqttsn.Packet{Type: mqttsn.TypeSubscribe, Subscribe: mqttsn.Subscribe{Flags: mqttsn.Flags{QoS: 2}, MsgID: 9, TopicName: []byte("log/#")}})
		c.expect(mqttsn.TypeSuback)
		synctest.Wait()

		type key struct{ msg, typ string }
		seen := map[key]map[string]any{}
		for _, l := range logs.lines(t) {
			if q, ok := l["qos"]; ok {
				if _, num := q.(float64); !num {
					t.Errorf("line %q: qos %v (%T), want a number", l["message"], q, q)
				}
			}
			if typ, ok := l["msg_type"].(string); ok {
				seen[key{l["message"].(string), typ}] = l
			}
		}
		for _, tc := range []struct {
			msg, typ string
			want     map[string]any
		}{
			{"packet received", "CONNECT", map[string]any{"client_id": "logc"}},
			{"packet sent", "CONNACK", map[string]any{"client_id": "logc"}},
			{"packet received", "REGISTER", map[string]any{"client_id": "logc", "msg_id": 7.0, "topic": "log/t"}},
			{"packet sent", "REGACK", map[string]any{"client_id": "logc", "msg_id": 7.0, "topic_id": float64(id)}},
			{"packet received", "PUBLISH", map[string]any{"client_id": "logc", "msg_id": 8.0, "topic_id": float64(id), "qos": 1.0}},
			{"packet sent", "PUBACK", map[string]any{"client_id": "logc", "msg_id": 8.0, "topic_id": float64(id)}},
			{"packet received", "SUBSCRIBE", map[string]any{"client_id": "logc", "msg_id": 9.0, "qos": 2.0, "topic": "log/#"}},
			{"packet sent", "SUBACK", map[string]any{"client_id": "logc", "msg_id": 9.0, "qos": 2.0}},
		} {
			l, ok := seen[key{tc.msg, tc.typ}]
			if !ok {
				t.Errorf("no %q line for %s", tc.msg, tc.typ)
				continue
			}
			for k, v := range tc.want {
				if l[k] != v {
					t.Errorf("%q %s: %s = %v (%T), want %v", tc.msg, tc.typ, k, l[k], l[k], v)
				}
			}
		}
	})
}
