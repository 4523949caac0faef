package logging

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the keys a Limiter tracks when NewLimiter is
// given maxKeys ≤ 0.
const DefaultMaxKeys = 1024

// KeySuppressed is the attribute key of the number of lines a Limiter
// suppressed for the key since the previous line.
const KeySuppressed = "suppressed"

// Limiter lets at most one log line per key per interval through and
// counts the ones it holds back, for warnings about classes of packets
// ("malformed HbH on port 1", "ring full on worker 3") that may occur at
// line rate. Methods are safe for concurrent use; a Limiter per worker
// avoids contention on its mutex.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu       sync.Mutex
	keys     map[string]*limitState
	overflow uint64 // lines of new keys suppressed because keys was full
}

// OverflowKey is the key Flush reports for lines of new keys suppressed
// because the Limiter tracked maxKeys keys already.
const OverflowKey = "(other)"

type limitState struct {
	last       time.Time // when a line was last let through
	suppressed uint64    // lines held back since then
}

// NewLimiter returns a limiter logging to log at most one line per key per
// interval. It tracks at most maxKeys keys (DefaultMaxKeys if ≤ 0): when
// full, keys idle for an interval are forgotten, and if none is, a new key
// is suppressed (and counted) until one is.
func NewLimiter(log *slog.Logger, interval time.Duration, maxKeys int) *Limiter {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{log: log, interval: interval, maxKeys: maxKeys, now: time.Now, keys: make(map[string]*limitState)}
}

// Allow reports whether a line for key may be logged now and, if so, how
// many were suppressed since the previous one (to be logged with it). It
// does not allocate once key is known, so a worker may call it per packet
// and build the log line only when it returns true:
//
//	if ok, n := lim.Allow("malformed/port1"); ok {
//		log.Warn("malformed packets", logging.Port(1), logging.KeySuppressed, n)
//	}
func (l *Limiter) Allow(key string) (ok bool, suppressed uint64) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st, found := l.keys[key]
	if !found {
		if len(l.keys) >= l.maxKeys && !l.pruneLocked(now) {
			l.overflow++
			return false, 0
		}
		l.keys[key] = &limitState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < l.interval {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	return true, n
}

// pruneLocked forgets keys with nothing pending that have been idle for an
// interval; it reports whether there is room for a new key.
func (l *Limiter) pruneLocked(now time.Time) bool {
	for k, st := range l.keys {
		if st.suppressed == 0 && now.Sub(st.last) >= l.interval {
			delete(l.keys, k)
		}
	}
	return len(l.keys) < l.maxKeys
}

// Warn logs msg with args at warn level unless a line for key was logged
// less than an interval ago; the line carries KeySuppressed=n when n lines
// were held back. It reports whether it logged. The variadic arguments
// may allocate even when suppressed: on a packet path use Allow.
func (l *Limiter) Warn(key, msg string, args ...any) bool {
	return l.Log(context.Background(), slog.LevelWarn, key, msg, args...)
}

// Log is Warn at any level.
func (l *Limiter) Log(ctx context.Context, level slog.Level, key, msg string, args ...any) bool {
	ok, n := l.Allow(key)
	if !ok {
		return false
	}
	if n > 0 {
		args = append(args, slog.Uint64(KeySuppressed, n))
	}
	l.log.Log(ctx, level, msg, args...)
	return true
}

// Flush logs, at warn level, one line per key with lines suppressed since
// its last one ("repeated warnings suppressed", key=…, suppressed=n; the
// key is OverflowKey for keys beyond maxKeys), and restarts their
// intervals. Call
// it from a slow ticker or at shutdown so that a burst that stopped is
// still accounted for. Keys are reported in sorted order.
func (l *Limiter) Flush() {
	now := l.now()
	type pending struct {
		key string
		n   uint64
	}
	var ps []pending
	l.mu.Lock()
	for k, st := range l.keys {
		if st.suppressed > 0 {
			ps = append(ps, pending{k, st.suppressed})
			st.suppressed, st.last = 0, now
		}
	}
	if l.overflow > 0 {
		ps = append(ps, pending{OverflowKey, l.overflow})
		l.overflow = 0
	}
	l.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].key < ps[j].key })
	for _, p := range ps {
		l.log.Warn("repeated warnings suppressed", "key", p.key, KeySuppressed, p.n)
	}
}
