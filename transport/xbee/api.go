package xbee

import (
	"errors"
	"fmt"
)

// FrameType is the API identifier, the first byte of the frame data.
type FrameType uint8

// Frame types used by the transport (XBee/XBee3 Zigbee API).
const (
	TypeATCommand   FrameType = 0x08 // AT Command (local)
	TypeTxRequest   FrameType = 0x10 // Transmit Request
	TypeATResponse  FrameType = 0x88 // AT Command Response
	TypeModemStatus FrameType = 0x8A // Modem Status
	TypeTxStatus    FrameType = 0x8B // Transmit Status
	TypeRxPacket    FrameType = 0x90 // Receive Packet
)

func (t FrameType) String() string {
	switch t {
	case TypeATCommand:
		return "at_command"
	case TypeTxRequest:
		return "tx_request"
	case TypeATResponse:
		return "at_response"
	case TypeModemStatus:
		return "modem_status"
	case TypeTxStatus:
		return "tx_status"
	case TypeRxPacket:
		return "rx_packet"
	}
	return fmt.Sprintf("FrameType(0x%02x)", uint8(t))
}

// Special addresses.
const (
	// BroadcastEUI64 is the 64-bit destination of a broadcast.
	BroadcastEUI64 uint64 = 0x000000000000FFFF
	// CoordinatorEUI64 addresses the network's coordinator.
	CoordinatorEUI64 uint64 = 0
	// UnknownAddr16 is the 16-bit network address to send with when it
	// is unknown, and the one used for broadcasts.
	UnknownAddr16 uint16 = 0xFFFE
)

// Fixed lengths of the frame data before the variable part.
const (
	rxPacketHeader = 12 // type, src64, src16, options
	txRequestHdr   = 14 // type, id, dst64, dst16, radius, options
	txStatusLen    = 7  // type, id, dst16, retries, delivery, discovery
	modemStatusLen = 2  // type, status
	atCommandHdr   = 4  // type, id, command
	atResponseHdr  = 5  // type, id, command, status
)

// FrameError reports frame data too short for its type.
type FrameError struct {
	Type FrameType
	Len  int // length of the frame data
	Min  int // length the type needs at least
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("xbee: %v frame of %d bytes, need %d", e.Type, e.Len, e.Min)
}

var errWrongType = errors.New("xbee: wrong frame type")

func checkFrame(data []byte, t FrameType, minLen int) error {
	if len(data) == 0 || FrameType(data[0]) != t {
		return errWrongType
	}
	if len(data) < minLen {
		return &FrameError{Type: t, Len: len(data), Min: minLen}
	}
	return nil
}

func readUint16(b []byte, off int) uint16 { return uint16(b[off])<<8 | uint16(b[off+1]) }

func readUint64(b []byte, off int) uint64 {
	var v uint64
	for _, c := range b[off : off+8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func appendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendUint64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
		byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Receive options of an [RxPacket].
const (
	RxAcknowledged = 0x01 // the packet was acknowledged
	RxBroadcast    = 0x02 // the packet was a broadcast
	RxEncrypted    = 0x20 // APS-encrypted
	RxEndDevice    = 0x40 // sent from an end device
)

// RxPacket is a Receive Packet (0x90): RF data from a remote radio.
type RxPacket struct {
	Src64   uint64
	Src16   uint16
	Options uint8
	Data    []byte // RF data; ALIASES the frame data passed to Parse
}

// Parse fills p from frame data of type [TypeRxPacket]. Data aliases b.
func (p *RxPacket) Parse(b []byte) error {
	if err := checkFrame(b, TypeRxPacket, rxPacketHeader); err != nil {
		return err
	}
	p.Src64 = readUint64(b, 1)
	p.Src16 = readUint16(b, 9)
	p.Options = b[11]
	p.Data = b[rxPacketHeader:]
	return nil
}

// AppendFrameData appends p as frame data (what a radio sends).
func (p *RxPacket) AppendFrameData(b []byte) []byte {
	b = append(b, byte(TypeRxPacket))
	b = appendUint64(b, p.Src64)
	b = appendUint16(b, p.Src16)
	b = append(b, p.Options)
	return append(b, p.Data...)
}

// Transmit options of a [TxRequest].
const (
	TxDisableRetries  = 0x01 // disable retries
	TxEncrypted       = 0x20 // enable APS encryption
	TxExtendedTimeout = 0x40 // use the extended transmission timeout
)

// TxRequest is a Transmit Request (0x10): RF data to a remote radio.
type TxRequest struct {
	FrameID uint8 // 0 asks the radio for no Transmit Status
	Dst64   uint64
	Dst16   uint16 // [UnknownAddr16] when not known
	Radius  uint8  // broadcast radius; 0 is the maximum
	Options uint8
	Data    []byte // RF data; ALIASES the frame data passed to Parse
}

// Parse fills r from frame data of type [TypeTxRequest]. Data aliases b.
func (r *TxRequest) Parse(b []byte) error {
	if err := checkFrame(b, TypeTxRequest, txRequestHdr); err != nil {
		return err
	}
	r.FrameID = b[1]
	r.Dst64 = readUint64(b, 2)
	r.Dst16 = readUint16(b, 10)
	r.Radius = b[12]
	r.Options = b[13]
	r.Data = b[txRequestHdr:]
	return nil
}

// AppendFrameData appends r as frame data.
func (r *TxRequest) AppendFrameData(b []byte) []byte {
	b = append(b, byte(TypeTxRequest), r.FrameID)
	b = appendUint64(b, r.Dst64)
	b = appendUint16(b, r.Dst16)
	b = append(b, r.Radius, r.Options)
	return append(b, r.Data...)
}

// DeliveryStatus is the outcome of a transmission in a [TxStatus].
type DeliveryStatus uint8

// Delivery statuses (not exhaustive; see the XBee Zigbee manual).
const (
	DeliverySuccess          DeliveryStatus = 0x00
	DeliveryMACAckFailure    DeliveryStatus = 0x01
	DeliveryCCAFailure       DeliveryStatus = 0x02
	DeliveryNetworkAckFail   DeliveryStatus = 0x21
	DeliveryNotJoined        DeliveryStatus = 0x22
	DeliverySelfAddressed    DeliveryStatus = 0x23
	DeliveryAddressNotFound  DeliveryStatus = 0x24
	DeliveryRouteNotFound    DeliveryStatus = 0x25
	DeliveryNoRelay          DeliveryStatus = 0x26
	DeliveryResourceError    DeliveryStatus = 0x2C
	DeliveryPayloadTooLarge  DeliveryStatus = 0x74
	DeliveryIndirectNotAsked DeliveryStatus = 0x75
)

func (s DeliveryStatus) String() string {
	switch s {
	case DeliverySuccess:
		return "success"
	case DeliveryMACAckFailure:
		return "mac ack failure"
	case DeliveryCCAFailure:
		return "cca failure"
	case DeliveryNetworkAckFail:
		return "network ack failure"
	case DeliveryNotJoined:
		return "not joined to network"
	case DeliverySelfAddressed:
		return "self-addressed"
	case DeliveryAddressNotFound:
		return "address not found"
	case DeliveryRouteNotFound:
		return "route not found"
	case DeliveryNoRelay:
		return "broadcast relay not heard"
	case DeliveryResourceError:
		return "resource error"
	case DeliveryPayloadTooLarge:
		return "payload too large"
	case DeliveryIndirectNotAsked:
		return "indirect message unrequested"
	}
	return fmt.Sprintf("DeliveryStatus(0x%02x)", uint8(s))
}

// TxStatus is a Transmit Status (0x8B): the outcome of the Transmit
// Request with the same frame id.
type TxStatus struct {
	FrameID   uint8
	Dst16     uint16 // the 16-bit address the packet went to
	Retries   uint8
	Delivery  DeliveryStatus
	Discovery uint8
}

// Parse fills s from frame data of type [TypeTxStatus].
func (s *TxStatus) Parse(b []byte) error {
	if err := checkFrame(b, TypeTxStatus, txStatusLen); err != nil {
		return err
	}
	s.FrameID = b[1]
	s.Dst16 = readUint16(b, 2)
	s.Retries = b[4]
	s.Delivery = DeliveryStatus(b[5])
	s.Discovery = b[6]
	return nil
}

// AppendFrameData appends s as frame data (what a radio sends).
func (s *TxStatus) AppendFrameData(b []byte) []byte {
	b = append(b, byte(TypeTxStatus), s.FrameID)
	b = appendUint16(b, s.Dst16)
	return append(b, s.Retries, byte(s.Delivery), s.Discovery)
}

// ModemStatus is the status byte of a Modem Status frame (0x8A).
type ModemStatus uint8

// Modem statuses (not exhaustive).
const (
	ModemHardwareReset    ModemStatus = 0x00
	ModemWatchdogReset    ModemStatus = 0x01
	ModemJoined           ModemStatus = 0x02
	ModemDisassociated    ModemStatus = 0x03
	ModemCoordinatorStart ModemStatus = 0x06
	ModemKeyUpdated       ModemStatus = 0x07
	ModemOverVoltage      ModemStatus = 0x0D
	ModemConfigChanged    ModemStatus = 0x11
)

func (s ModemStatus) String() string {
	switch s {
	case ModemHardwareReset:
		return "hardware reset"
	case ModemWatchdogReset:
		return "watchdog timer reset"
	case ModemJoined:
		return "joined network"
	case ModemDisassociated:
		return "disassociated"
	case ModemCoordinatorStart:
		return "coordinator started"
	case ModemKeyUpdated:
		return "network security key updated"
	case ModemOverVoltage:
		return "voltage supply limit exceeded"
	case ModemConfigChanged:
		return "configuration changed while joining"
	}
	if s >= 0x80 {
		return fmt.Sprintf("stack error 0x%02x", uint8(s))
	}
	return fmt.Sprintf("ModemStatus(0x%02x)", uint8(s))
}

// ParseModemStatus returns the status of frame data of type
// [TypeModemStatus].
func ParseModemStatus(b []byte) (ModemStatus, error) {
	if err := checkFrame(b, TypeModemStatus, modemStatusLen); err != nil {
		return 0, err
	}
	return ModemStatus(b[1]), nil
}

// ATCommand is a local AT Command (0x08).
type ATCommand struct {
	FrameID uint8
	Command [2]byte // e.g. "SH"
	Param   []byte  // empty to query; ALIASES the input of Parse
}

// Parse fills a from frame data of type [TypeATCommand].
func (a *ATCommand) Parse(b []byte) error {
	if err := checkFrame(b, TypeATCommand, atCommandHdr); err != nil {
		return err
	}
	a.FrameID = b[1]
	a.Command = [2]byte{b[2], b[3]}
	a.Param = b[atCommandHdr:]
	return nil
}

// AppendFrameData appends a as frame data.
func (a *ATCommand) AppendFrameData(b []byte) []byte {
	b = append(b, byte(TypeATCommand), a.FrameID, a.Command[0], a.Command[1])
	return append(b, a.Param...)
}

// ATResponse is an AT Command Response (0x88).
type ATResponse struct {
	FrameID uint8
	Command [2]byte
	Status  uint8  // 0 OK, 1 error, 2 invalid command, 3 invalid parameter
	Data    []byte // ALIASES the input of Parse
}

// Parse fills a from frame data of type [TypeATResponse].
func (a *ATResponse) Parse(b []byte) error {
	if err := checkFrame(b, TypeATResponse, atResponseHdr); err != nil {
		return err
	}
	a.FrameID = b[1]
	a.Command = [2]byte{b[2], b[3]}
	a.Status = b[4]
	a.Data = b[atResponseHdr:]
	return nil
}

// AppendFrameData appends a as frame data (what a radio sends).
func (a *ATResponse) AppendFrameData(b []byte) []byte {
	b = append(b, byte(TypeATResponse), a.FrameID, a.Command[0], a.Command[1], a.Status)
	return append(b, a.Data...)
}
