package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/dexplane/dexplane/dataplane/packet"
	"github.com/dexplane/dexplane/internal/decodejson"
)

func runDecode(args []string) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	file := fs.String("r", "", "pcap or pcapng `FILE` to read (Ethernet, raw IPv6, Linux SLL or SLL2)")
	asJSON := fs.Bool("json", false, "print one JSON object per packet")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dexplane decode -r FILE [--json]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *file == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	f, err := os.Open(*file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dexplane decode: %v\n", err)
		return 1
	}
	defer f.Close()
	w := bufio.NewWriter(os.Stdout)
	err = decodeCapture(f, w, *asJSON)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dexplane decode: %s: %v\n", *file, err)
		return 1
	}
	return 0
}

// packetReader is what pcapgo's pcap and pcapng readers have in common.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// decodeCapture reads a pcap or pcapng stream (told apart by the magic
// number) and writes one line per packet to w. A malformed packet is reported
// on its own line; only errors of the capture file itself stop decoding.
func decodeCapture(r io.Reader, w io.Writer, asJSON bool) error {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("reading capture header: %w", err)
	}
	var rd packetReader
	if binary.BigEndian.Uint32(magic) == 0x0A0D0D0A { // pcapng Section Header Block
		rd, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	} else {
		rd, err = pcapgo.NewReader(br)
	}
	if err != nil {
		return fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var p packet.Packet
	for i := 0; ; i++ {
		data, ci, err := rd.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
		lt := rd.LinkType()
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		rec := decodeFrame(i, lt, data, &p)
		if ci.CaptureLength < ci.Length && !rec.OK {
			rec.Error += fmt.Sprintf(" (capture truncated to %d of %d octets)", ci.CaptureLength, ci.Length)
		}
		if asJSON {
			err = enc.Encode(rec)
		} else {
			_, err = io.WriteString(w, recordText(&rec)+"\n")
		}
		if err != nil {
			return err
		}
	}
}

// Link-layer header lengths of the Linux cooked captures.
const (
	sllLen  = 16 // LINKTYPE_LINUX_SLL: protocol at octets 14-15
	sll2Len = 20 // LINKTYPE_LINUX_SLL2: protocol at octets 0-1
)

// decodeFrame decodes one captured frame of link type lt.
func decodeFrame(index int, lt layers.LinkType, data []byte, p *packet.Packet) decodejson.Packet {
	rec := decodejson.Packet{Index: index, OK: true, Encap: "none", IOAM: []decodejson.Option{}}
	var err error
	switch lt {
	case layers.LinkTypeEthernet:
		err = packet.Parse(data, p)
	case layers.LinkTypeRaw, layers.LinkTypeIPv6, 12 /* DLT_RAW on most BSDs */, 14 /* DLT_RAW on OpenBSD */ :
		if len(data) > 0 && data[0]>>4 != 6 {
			return rec // IPv4 (or other) in a raw capture
		}
		err = packet.ParseIPv6(data, 0, p)
	case layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2:
		name, hdrLen, proto := "Linux SLL", sllLen, 14
		if lt == layers.LinkTypeLinuxSLL2 {
			name, hdrLen, proto = "Linux SLL2", sll2Len, 0
		}
		if len(data) < hdrLen {
			return failed(rec, fmt.Errorf("truncated %s header (%d octets)", name, len(data)))
		}
		if binary.BigEndian.Uint16(data[proto:]) != packet.EtherTypeIPv6 {
			return rec
		}
		err = packet.ParseIPv6(data, hdrLen, p)
	default:
		return failed(rec, fmt.Errorf("unsupported link type %v (%d)", lt, uint8(lt)))
	}
	if errors.Is(err, packet.ErrNotIPv6) {
		return rec
	}
	if len(data)-p.L3 >= packet.IPv6Len && data[p.L3]>>4 == 6 {
		rec.Src = addr(packet.Src(data, p.L3))
		rec.Dst = addr(packet.Dst(data, p.L3))
	}
	if err != nil {
		return failed(rec, p.Detail(err))
	}
	rec.Encap = p.Encap.String()
	if p.Inner != 0 {
		rec.InnerSrc = addr(packet.Src(data, p.Inner))
		rec.InnerDst = addr(packet.Dst(data, p.Inner))
	}
	for _, o := range p.IOAM[:p.NumIOAM] {
		r := decodejson.Option{Offset: o.Off - p.HbH, OptionType: o.OptType, IOAMType: o.IOAMType}
		opt := data[o.Off : o.Off+2+int(o.DataLen)]
		switch o.IOAMType {
		case packet.IOAMTypeDirectExporting:
			if d, err := packet.DecodeDEXOption(opt); err == nil {
				r.NS, r.Flags, r.ExtFlags, r.TraceType = &d.Namespace, &d.Flags, &d.ExtFlags, &d.TraceType
				if d.HasFlowID() {
					r.FlowID = &d.FlowID
				}
				if d.HasSeq() {
					r.Seq = &d.Seq
				}
			}
		case packet.IOAMTypePreallocTrace:
			if t, err := packet.DecodePTOOption(opt); err == nil {
				r.NS, r.Flags, r.TraceType, r.NodeLen, r.RemLen = &t.Namespace, &t.Flags, &t.TraceType, &t.NodeLen, &t.RemLen
				ov := t.Flags&packet.PTOFlagOverflow != 0
				r.Overflow = &ov
				r.Hops = traceHops(opt, t.TraceType)
			}
		}
		rec.IOAM = append(rec.IOAM, r)
	}
	return rec
}

func failed(rec decodejson.Packet, err error) decodejson.Packet {
	rec.OK = false
	rec.Error = err.Error()
	rec.IOAM = []decodejson.Option{}
	return rec
}

func addr(a [16]byte) string { return netip.AddrFrom16(a).String() }

// recordText is the human-readable one-line form of a record.
func recordText(r *decodejson.Packet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", r.Index)
	if !r.OK {
		fmt.Fprintf(&b, " MALFORMED")
		if r.Src != "" {
			fmt.Fprintf(&b, " %s > %s", r.Src, r.Dst)
		}
		fmt.Fprintf(&b, ": %s", r.Error)
		return b.String()
	}
	if r.Src == "" {
		b.WriteString(" not IPv6")
		return b.String()
	}
	fmt.Fprintf(&b, " %s > %s %s", r.Src, r.Dst, r.Encap)
	if r.InnerSrc != "" {
		fmt.Fprintf(&b, " [%s > %s]", r.InnerSrc, r.InnerDst)
	}
	for _, o := range r.IOAM {
		fmt.Fprintf(&b, " | IOAM@%d opt 0x%02x type %d", o.Offset, o.OptionType, o.IOAMType)
		switch {
		case o.IOAMType == packet.IOAMTypeDirectExporting && o.NS != nil:
			fmt.Fprintf(&b, " DEX ns %d flags 0x%02x ext 0x%02x trace 0x%06x", *o.NS, *o.Flags, *o.ExtFlags, *o.TraceType)
			if o.FlowID != nil {
				fmt.Fprintf(&b, " flow 0x%08x", *o.FlowID)
			}
			if o.Seq != nil {
				fmt.Fprintf(&b, " seq %d", *o.Seq)
			}
		case o.IOAMType == packet.IOAMTypePreallocTrace && o.NS != nil:
			fmt.Fprintf(&b, " PTO ns %d trace 0x%06x nodelen %d remlen %d", *o.NS, *o.TraceType, *o.NodeLen, *o.RemLen)
			if *o.Overflow {
				b.WriteString(" overflow")
			}
			writeHops(&b, o.Hops)
		}
	}
	return b.String()
}
