package handle

import "testing"

// TestContract: Packet is Buf[Off:Off+Len] without a copy, the verdicts'
// names, and the two ready-made handlers.
func TestContract(t *testing.T) {
	buf := make([]byte, 64)
	f := &Frame{Buf: buf, Off: 10, Len: 20}
	p := f.Packet()
	p[0] = 0xab
	if len(p) != 20 || buf[10] != 0xab {
		t.Errorf("Packet: len %d, shares Buf %v", len(p), buf[10] == 0xab)
	}
	for v, want := range map[Verdict]string{Forward: "forward", Drop: "drop", Reflect: "reflect", 9: "Verdict(?)"} {
		if v.String() != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", v, v, want)
		}
	}
	if (Identity{}).Handle(f) != Forward {
		t.Error("Identity does not forward")
	}
	var h Handler = HandlerFunc(func(g *Frame) Verdict {
		if g != f {
			t.Error("HandlerFunc got another frame")
		}
		return Reflect
	})
	if h.Handle(f) != Reflect {
		t.Error("HandlerFunc's verdict lost")
	}
	if n := testing.AllocsPerRun(100, func() { h.Handle(f) }); n != 0 {
		t.Errorf("a handler call allocates %v times", n)
	}
}
