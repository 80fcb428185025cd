package udp

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// slotSize holds any UDP datagram over IPv4 and any non-jumbo one over
// IPv6.
const slotSize = 1 << 16

// newReader returns a reader that fetches up to batch datagrams per
// recvmmsg(2) call, or one per recvmsg(2) when batch <= 1.
func newReader(uc *net.UDPConn, batch int) reader {
	if batch <= 1 {
		return plainReader{uc}
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return plainReader{uc}
	}
	return newMmsgReader(rc, batch)
}

// mmsghdr is struct mmsghdr of recvmmsg(2); Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// mmsgReader serves datagrams one at a time from batches read with
// recvmmsg(2). It is used by the single reader goroutine only, so it needs
// no lock. Its buffers are allocated once; reading allocates nothing.
type mmsgReader struct {
	rc    syscall.RawConn
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for IPv4 senders too
	slab  []byte                  // len(hdrs) slots of slotSize bytes

	filled, next int           // datagrams in the current batch, next to serve
	got          int           // result of the last recvmmsg
	errno        syscall.Errno // error of the last recvmmsg
	readFn       func(fd uintptr) bool
	zones        map[uint32]string // IPv6 scope id -> zone, for link-local senders
}

func newMmsgReader(rc syscall.RawConn, batch int) *mmsgReader {
	r := &mmsgReader{
		rc:    rc,
		hdrs:  make([]mmsghdr, batch),
		iovs:  make([]unix.Iovec, batch),
		names: make([]unix.RawSockaddrInet6, batch),
		slab:  make([]byte, batch*slotSize),
		zones: make(map[uint32]string),
	}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.slab[i*slotSize]
		r.iovs[i].SetLen(slotSize)
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
	}
	r.readFn = r.recvmmsg // bound once: a method value per call would allocate
	return r
}

// read serves the next datagram of the batch, reading a new batch when the
// current one is used up.
func (r *mmsgReader) read(b []byte) (int, netip.AddrPort, error) {
	for r.next >= r.filled {
		if err := r.fill(); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
	i := r.next
	r.next++
	m := &r.hdrs[i]
	from := r.sender(&r.names[i])
	n := int(m.len)
	if m.hdr.Flags&unix.MSG_TRUNC != 0 {
		return len(b) + 1, from, nil
	}
	if n <= len(b) {
		copy(b, r.slab[i*slotSize:i*slotSize+n])
	}
	return n, from, nil
}

// fill reads a new batch, blocking in the netpoller until at least one
// datagram is there.
func (r *mmsgReader) fill() error {
	for i := range r.filled {
		r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		r.hdrs[i].hdr.Flags = 0
	}
	if r.filled == 0 { // first call: set every name length
		for i := range r.hdrs {
			r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		}
	}
	r.filled, r.next = 0, 0
	if err := r.rc.Read(r.readFn); err != nil {
		return err
	}
	if r.errno != 0 {
		return &net.OpError{Op: "recvmmsg", Net: "udp", Err: r.errno}
	}
	r.filled = r.got
	return nil
}

// recvmmsg is the RawConn.Read callback: false asks the netpoller to wait
// until the socket is readable.
func (r *mmsgReader) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.got, r.errno = int(n), e
		return true
	}
}

// sender decodes a sockaddr filled by the kernel without allocating.
func (r *mmsgReader) sender(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(r.zone(sa.Scope_id))
		}
		return netip.AddrPortFrom(a, port)
	}
	return netip.AddrPort{}
}

// zone names an IPv6 scope id as the net package does (the interface
// name), caching the answer.
func (r *mmsgReader) zone(id uint32) string {
	if z, ok := r.zones[id]; ok {
		return z
	}
	z := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	r.zones[id] = z
	return z
}
