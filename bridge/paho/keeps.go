package paho

// KeepsSessions implements bridge.SessionKeeper: in transparent mode
// every MQTT-SN client has its own connection, and a CleanSession=false
// client's broker session (subscriptions, queued QoS 1 and 2 messages)
// outlives the gateway's shutdown, which closes it without discarding.
// In aggregating mode the shared connection's subscriptions are the
// gateway's, dropped with a client's session, so it does not.
func (u *Upstream) KeepsSessions() bool { return u.cfg.Mode == Transparent }
