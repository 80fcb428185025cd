package bridge_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snbridge/snbridge/bridge"
)

func TestCompletionFail(t *testing.T) {
	boom := errors.New("boom")
	var got []string
	for _, c := range []bridge.Completion{
		{Open: func(s bridge.Session, err error) {
			if s != nil {
				t.Errorf("Open got session %v", s)
			}
			got = append(got, "open "+err.Error())
		}},
		{Err: func(err error) { got = append(got, "err "+err.Error()) }},
		{Sub: func(g byte, err error) {
			if g != 0x80 {
				t.Errorf("Sub granted %#x, want 0x80", g)
			}
			got = append(got, "sub "+err.Error())
		}},
		{Close: func() { got = append(got, "close") }},
		{}, // an adapter's internal operation: nothing to call
	} {
		c.Fail(boom)
	}
	if d := cmp.Diff([]string{"open boom", "err boom", "sub boom", "close"}, got); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
}
