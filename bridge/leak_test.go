package bridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// gateway waits for its readers, and every part a test starts is stopped
// and waited for in its cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
