package policy

import (
	"errors"
	"sync"
	"testing"
	"unsafe"
)

func TestSamplerFirstKOfEveryN(t *testing.T) {
	tests := []struct{ k, n uint32 }{{1, 1}, {1, 2}, {1, 10}, {3, 7}, {7, 7}, {99, 100}}
	for _, tc := range tests {
		s, err := NewSampler(tc.k, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint64(5 * tc.n) {
			want := i%uint64(tc.n) < uint64(tc.k)
			if got := s.Sample(); got != want {
				t.Fatalf("%d/%d: packet %d selected=%v, want %v", tc.k, tc.n, i, got, want)
			}
		}
		if got := s.Count(); got != uint64(5*tc.n) {
			t.Errorf("%d/%d: Count = %d, want %d", tc.k, tc.n, got, 5*tc.n)
		}
	}
}

func TestNewSamplerRange(t *testing.T) {
	for _, tc := range []struct{ k, n uint32 }{{0, 1}, {2, 1}, {1, 0}, {1, 1000001}, {0, 0}} {
		if _, err := NewSampler(tc.k, tc.n); !errors.Is(err, ErrFreq) {
			t.Errorf("NewSampler(%d, %d) error = %v, want ErrFreq", tc.k, tc.n, err)
		}
	}
	if _, err := NewSampler(1000000, 1000000); err != nil {
		t.Errorf("NewSampler(1000000, 1000000): %v", err)
	}
}

func TestSamplerConcurrentExact(t *testing.T) {
	s, _ := NewSampler(1, 10)
	const workers, per = 4, 10000
	var wg sync.WaitGroup
	var mu sync.Mutex
	selected := 0
	for range workers {
		wg.Go(func() {
			n := 0
			for range per {
				if s.Sample() {
					n++
				}
			}
			mu.Lock()
			selected += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if selected != workers*per/10 {
		t.Errorf("selected %d of %d, want exactly %d", selected, workers*per, workers*per/10)
	}
}

func TestSamplerCounterPadding(t *testing.T) {
	var c counter
	off := unsafe.Offsetof(c.n)
	if off < cacheLine || unsafe.Sizeof(c)-off-8 < cacheLine-8 {
		t.Errorf("counter at offset %d of %d: not alone on its cache line", off, unsafe.Sizeof(c))
	}
}

func TestSamplerAllocs(t *testing.T) {
	s, _ := NewSampler(1, 100)
	if n := testing.AllocsPerRun(1000, func() { s.Sample() }); n != 0 {
		t.Errorf("Sample allocates %v times per call", n)
	}
}

func BenchmarkSampler(b *testing.B) {
	s, _ := NewSampler(1, 100)
	b.ReportAllocs()
	for b.Loop() {
		s.Sample()
	}
}

func BenchmarkSamplerParallel(b *testing.B) {
	s, _ := NewSampler(1, 100)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Sample()
		}
	})
}
