package gen

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// InjectionKN converts a DEX injection rate in percent to the kernel's
// "freq k/n" (first k packets of every n), reduced: 100 → 1/1, 25 → 1/4,
// 1 → 1/100, 0.001 → 1/100000 (the ULiège examples). The resolution is
// 0.001 %; rates ≤ 0 give 0/1 (never), ≥ 100 give 1/1.
func InjectionKN(percent float64) (k, n uint32) {
	switch {
	case percent <= 0 || math.IsNaN(percent):
		return 0, 1
	case percent >= 100:
		return 1, 1
	}
	const denom = 100000
	num := uint32(math.Round(percent * 1000))
	if num == 0 {
		num = 1
	}
	g := gcd(num, denom)
	return num / g, denom / g
}

func gcd(a, b uint32) uint32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ParseFreq parses "K/N" with 0 ≤ K ≤ N, 1 ≤ N ≤ 1,000,000 (the kernel's
// range; K = 0 is allowed here to mean never).
func ParseFreq(s string) (k, n uint32, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	kv, err1 := strconv.ParseUint(ks, 10, 32)
	nv, err2 := strconv.ParseUint(ns, 10, 32)
	if !ok || err1 != nil || err2 != nil || nv < 1 || nv > 1000000 || kv > nv {
		return 0, 0, fmt.Errorf("%w: frequency %q (want K/N, 0 ≤ K ≤ N ≤ 1000000)", ErrSpec, s)
	}
	return uint32(kv), uint32(nv), nil
}
