// Package boltfiletest makes the bbolt files that tests of
// [boltfile.Open] and of its users need: a file bbolt cannot open,
// another program's bbolt file without a tag, and a file with another
// format tag.
//
// It does not open or check files the way the gateway does; it only
// writes them, failing the test on any error. Its functions may be called
// from any test goroutine that may call t.Fatal.
package boltfiletest
