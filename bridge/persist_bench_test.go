package bridge_test

import (
	"path/filepath"
	"testing"

	"github.com/snbridge/snbridge/bridge"
	"github.com/snbridge/snbridge/bridge/state"
)

// BenchmarkGatewayQoS0State is BenchmarkGatewayQoS0/mem with a state
// store configured: a clean client's QoS 0 path does not touch it, and a
// persistent client's QoS 0 PUBLISHes change nothing durable (its session
// is not rewritten per message).
func BenchmarkGatewayQoS0State(b *testing.B) {
	for _, tt := range []struct {
		name  string
		clean bool
	}{{"clean", true}, {"persistent", false}} {
		b.Run(tt.name, func(b *testing.B) {
			st, err := state.Open(state.Config{Path: filepath.Join(b.TempDir(), "state.db")})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			benchGatewayMem(b, tt.clean, func(c *bridge.Config) { c.State = st })
		})
	}
}
