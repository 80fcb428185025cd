package bridge

// Completion is the completion callback of one issued [Upstream] or
// [Session] operation, as an adapter keeps it until the operation is done.
// One field is set, the one of the operation's kind; none for an
// adapter's internal operations, which have nobody to tell. It is a plain
// value, so adapters can queue operations by value without allocating.
type Completion struct {
	Open  func(Session, error)          // Upstream.Open
	Err   func(error)                   // Session.Publish, Session.Unsubscribe
	Sub   func(granted byte, err error) // Session.Subscribe
	Close func()                        // Session.Close
}

// Fail completes the operation with err: Open gets a nil Session,
// Subscribe gets granted 0x80 (the MQTT failure code), Close, which
// reports no error, is called. With no field set it does nothing.
func (c *Completion) Fail(err error) {
	switch {
	case c.Open != nil:
		c.Open(nil, err)
	case c.Err != nil:
		c.Err(err)
	case c.Sub != nil:
		c.Sub(0x80, err)
	case c.Close != nil:
		c.Close()
	}
}
