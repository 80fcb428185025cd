package failover

// Closing returns how many primary sessions are being closed, and a
// channel signalled after each close completes.
func (f *Failover) Closing() (int, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closedHook == nil {
		f.closedHook = make(chan struct{}, 1)
	}
	n := 0
	for _, c := range f.closing {
		n += c
	}
	return n, f.closedHook
}
