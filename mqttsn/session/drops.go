package session

// dropNote describes the last message of the client that a Session
// dropped for one reason, for the gateway's log.
type dropNote struct {
	topic  string
	length int // length of the REGISTER or PUBLISH that would not fit
}

// LastTooLarge returns the topic of the last message counted in
// Stats().TooLarge and the length of the REGISTER or PUBLISH that would
// have exceeded Config.MaxPacket ("" and 0 before any). The gateway reads
// it when the counter grows, to log the drop. (Additive.)
func (s *Session) LastTooLarge() (topic string, length int) {
	return s.tooLarge.topic, s.tooLarge.length
}

// MaxPacket returns the largest MQTT-SN message the session sends to the
// client (Config.MaxPacket after defaults). (Additive.)
func (s *Session) MaxPacket() int { return s.cfg.MaxPacket }

// noteTooLarge counts a message dropped because its REGISTER or PUBLISH
// of length n exceeds MaxPacket. [MQTT-SN 1.2 §6.10] "the gateway
// silently aborts the publish procedure"
func (s *Session) noteTooLarge(topic string, n int) {
	s.stats.TooLarge++
	s.tooLarge = dropNote{topic: topic, length: n}
}
