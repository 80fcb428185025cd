// Package mqttsntest loads the shared MQTT-SN packet vectors kept as
// annotated hex in testdata/mqttsn at the repository root, for the tests
// of mqttsn, the XBee transport and the bridge.
//
// A vector file <name>.hex holds one field per line: hex octets (spaces
// allowed) followed by a "# comment"; lines that are empty or only a
// comment are ignored. The sibling <name>.golden holds the
// mqttsn.Packet.String rendering of the message, regenerated with
// `go test ./mqttsn -update`.
//
// It does no I/O beyond reading those files and starts no goroutines.
// The returned byte slices are fresh copies owned by the caller. It does
// not import mqttsn, so mqttsn's own tests can use it.
package mqttsntest
