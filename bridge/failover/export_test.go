package failover

// Closing returns how many primary sessions are being closed, and a
// channel signalled after each close completes.
func (f *Failover) Closing() (int, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.closing {
		n += c
	}
	return n, f.hookLocked()
}

// OnPrimary reports whether the open session of client id is on the
// primary, and a channel signalled after each move to the primary.
func (f *Failover) OnPrimary(id string) (bool, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := f.byClient[id]
	return vs != nil && vs.pr != nil, f.hookLocked()
}

func (f *Failover) hookLocked() chan struct{} {
	if f.testHook == nil {
		f.testHook = make(chan struct{}, 1)
	}
	return f.testHook
}
