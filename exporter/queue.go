package exporter

// msgBuf is one encoded IPFIX message, or a chunk of local output lines,
// travelling from the drainer to a writer goroutine.
type msgBuf struct {
	b       []byte
	records int    // data records (IPFIX) or lines (local output) in b
	gen     uint64 // collector session the message was encoded for
}

// bufQueue is a fixed pool of buffers circulating between the drainer and
// one writer goroutine: the drainer takes a free buffer without blocking
// (none free = the writer is behind = drop), fills it and queues it; the
// writer sends it and returns it to the pool. Both channels have room for
// every buffer, so neither side ever blocks on a send.
type bufQueue struct {
	free chan *msgBuf
	full chan *msgBuf
}

func newBufQueue(n, size int) *bufQueue {
	q := &bufQueue{free: make(chan *msgBuf, n), full: make(chan *msgBuf, n)}
	for range n {
		q.free <- &msgBuf{b: make([]byte, 0, size)}
	}
	return q
}

// get returns a free buffer, or nil when all are queued or being written.
func (q *bufQueue) get() *msgBuf {
	select {
	case m := <-q.free:
		m.b = m.b[:0]
		m.records = 0
		return m
	default:
		return nil
	}
}

// push hands a filled buffer to the writer; never blocks.
func (q *bufQueue) push(m *msgBuf) { q.full <- m }

// recycle returns a buffer to the pool; never blocks.
func (q *bufQueue) recycle(m *msgBuf) { q.free <- m }
