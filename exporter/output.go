package exporter

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/dexplane/dexplane/dataplane/policy"
	"github.com/dexplane/dexplane/dataplane/telemetry"
)

// Local output buffering: lines are appended to a chunk of outputChunk
// octets, handed to the writer when it is nearly full (a record's line is
// far shorter than outputSlack) or when the rings are idle.
const (
	outputChunk = 64 << 10
	outputSlack = 4 << 10
)

// output is one local text or JSON output.
type output struct {
	cfg    policy.LocalOutput
	w      io.Writer // stdout, or f
	f      *os.File  // nil for stdout; owned by the writer goroutine
	q      *bufQueue
	cur    *msgBuf // chunk being filled (drainer only)
	reopen chan struct{}

	records, dropped, errors atomic.Uint64
}

func newOutput(cfg policy.LocalOutput, opts *Options) (*output, error) {
	o := &output{cfg: cfg, reopen: make(chan struct{}, 1), q: newBufQueue(opts.QueueDepth, outputChunk)}
	switch cfg.Format {
	case policy.OutputText, policy.OutputJSON:
	default:
		return nil, fmt.Errorf("exporter: output %q: unknown format %v", cfg.Path, cfg.Format)
	}
	if cfg.Path == "" || cfg.Path == "-" {
		o.w = opts.Stdout
		return o, nil
	}
	f, err := openOutput(cfg.Path)
	if err != nil {
		return nil, err
	}
	o.f, o.w = f, f
	return o, nil
}

func openOutput(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("exporter: open output: %w", err)
	}
	return f, nil
}

// offer formats r into the current chunk (drainer goroutine).
func (o *output) offer(r *telemetry.Record) {
	if o.cur == nil {
		if o.cur = o.q.get(); o.cur == nil {
			o.dropped.Add(1) // writer is behind (slow disk or pipe)
			return
		}
	}
	if o.cfg.Format == policy.OutputJSON {
		o.cur.b = AppendJSON(o.cur.b, r)
	} else {
		o.cur.b = AppendText(o.cur.b, r)
	}
	o.cur.records++
	if len(o.cur.b) > outputChunk-outputSlack {
		o.flush()
	}
}

// flush hands the current chunk to the writer (drainer goroutine).
func (o *output) flush() {
	if o.cur != nil && o.cur.records > 0 {
		o.q.push(o.cur)
		o.cur = nil
	}
}

// run is the writer goroutine; it returns when done is closed and the
// queue is empty.
func (o *output) run(done <-chan struct{}) {
	defer func() {
		if o.f != nil {
			o.f.Close()
		}
	}()
	for {
		select {
		case <-o.reopen:
			o.doReopen()
		case m := <-o.q.full:
			o.write(m)
		case <-done:
			for {
				select {
				case m := <-o.q.full:
					o.write(m)
				default:
					return
				}
			}
		}
	}
}

func (o *output) write(m *msgBuf) {
	if _, err := o.w.Write(m.b); err != nil {
		o.errors.Add(1)
		o.dropped.Add(uint64(m.records))
	} else {
		o.records.Add(uint64(m.records))
	}
	o.q.recycle(m)
}

// doReopen reopens a file output by name (after log rotation moved it).
func (o *output) doReopen() {
	if o.f == nil {
		return
	}
	f, err := openOutput(o.cfg.Path)
	if err != nil {
		o.errors.Add(1) // keep writing to the old file
		return
	}
	o.f.Close()
	o.f, o.w = f, f
}
