-- dexplane.lua: IOAM Direct Exporting (RFC 9326) and, where Wireshark lacks
-- it, IOAM Pre-allocated Trace (RFC 9197) for Wireshark/tshark 4.0 and later.
--
-- Wireshark 4.0 dissects the IOAM Hop-by-Hop option (0x31) and the
-- Pre-allocated and Incremental Trace option types, but shows the body of a
-- DEX option (IOAM type 4) as "Unknown Data (not interpreted)". This
-- post-dissector adds an "IOAM DEX (dexplane)" tree with every DEX field for
-- the Hop-by-Hop header of the outermost IPv6 header (the one dexplane
-- writes, inline or IPv6-in-IPv6). It decodes PTO only when the running
-- Wireshark has no PTO fields of its own, or when the preference
-- dexplane.force_pto is set (tshark -o dexplane.force_pto:TRUE); likewise it
-- stays silent for DEX if a future Wireshark brings ipv6.opt.ioam.dex.* fields.
--
-- Install: copy to ~/.local/lib/wireshark/plugins/ (or the global plugin
-- directory, /usr/lib/x86_64-linux-gnu/wireshark/plugins/ on Debian; the
-- dexplane package puts it in /usr/share/dexplane/wireshark/), or run
--   tshark -X lua_script:dexplane.lua -r capture.pcap -V
-- Filter fields: dexplane.ioam.*, dexplane.dex.*, dexplane.pto.*

-- Loaded twice (the package's copy in the global plugin directory and
-- -X lua_script:), the second copy steps aside.
local ok, p = pcall(Proto, "dexplane", "IOAM DEX (dexplane)")
if not ok then return end

-- IOAM option types in the Hop-by-Hop header (RFC 9486: 0x11 and 0x31).
local IOAM_OPTION = { [0x11] = true, [0x31] = true }
local TYPE_PTO, TYPE_DEX = 0, 4

local f = {
  offset    = ProtoField.uint16("dexplane.ioam.offset", "Option offset in Hop-by-Hop header", base.DEC),
  opt_type  = ProtoField.uint8("dexplane.ioam.option_type", "Option Type", base.HEX),
  ioam_type = ProtoField.uint8("dexplane.ioam.type", "IOAM Option-Type", base.DEC,
                { [0] = "Pre-allocated Trace", [1] = "Incremental Trace", [2] = "Proof of Transit",
                  [3] = "Edge-to-Edge", [4] = "Direct Exporting" }),
  dex_ns    = ProtoField.uint16("dexplane.dex.ns", "Namespace-ID", base.DEC),
  dex_flags = ProtoField.uint8("dexplane.dex.flags", "Flags", base.HEX),
  dex_ext   = ProtoField.uint8("dexplane.dex.ext_flags", "Extension-Flags", base.HEX),
  dex_ext_f = ProtoField.bool("dexplane.dex.ext_flags.flow_id", "Flow ID present", 8, nil, 0x80),
  dex_ext_s = ProtoField.bool("dexplane.dex.ext_flags.seq", "Sequence Number present", 8, nil, 0x40),
  dex_trace = ProtoField.uint24("dexplane.dex.trace_type", "IOAM-Trace-Type", base.HEX),
  dex_rsv   = ProtoField.uint8("dexplane.dex.reserved", "Reserved", base.HEX),
  dex_flow  = ProtoField.uint32("dexplane.dex.flow_id", "Flow ID", base.HEX),
  dex_seq   = ProtoField.uint32("dexplane.dex.seq", "Sequence Number", base.DEC),
  pto_ns    = ProtoField.uint16("dexplane.pto.ns", "Namespace-ID", base.DEC),
  pto_nl    = ProtoField.uint8("dexplane.pto.node_len", "NodeLen (4-octet units)", base.DEC),
  pto_flags = ProtoField.uint8("dexplane.pto.flags", "Flags", base.HEX),
  pto_rl    = ProtoField.uint8("dexplane.pto.rem_len", "RemainingLen (4-octet units)", base.DEC),
  pto_trace = ProtoField.uint24("dexplane.pto.trace_type", "IOAM-Trace-Type", base.HEX),
  pto_node  = ProtoField.none("dexplane.pto.node", "Node data"),
  n_hlim    = ProtoField.uint8("dexplane.pto.node.hop_limit", "Hop_Lim", base.DEC),
  n_id      = ProtoField.uint24("dexplane.pto.node.node_id", "node_id", base.DEC),
  n_iif     = ProtoField.uint16("dexplane.pto.node.ingress_if_id", "ingress_if_id", base.DEC),
  n_eif     = ProtoField.uint16("dexplane.pto.node.egress_if_id", "egress_if_id", base.DEC),
  n_tss     = ProtoField.uint32("dexplane.pto.node.timestamp_sec", "timestamp seconds", base.DEC),
  n_tsf     = ProtoField.uint32("dexplane.pto.node.timestamp_frac", "timestamp fraction", base.DEC),
  n_delay   = ProtoField.uint32("dexplane.pto.node.transit_delay", "transit delay (ns)", base.DEC),
  n_nsd     = ProtoField.uint32("dexplane.pto.node.ns_data", "namespace specific data", base.HEX),
  n_qd      = ProtoField.uint32("dexplane.pto.node.queue_depth", "queue depth", base.DEC),
  n_csum    = ProtoField.uint32("dexplane.pto.node.checksum_complement", "checksum complement", base.HEX),
  n_idw     = ProtoField.uint64("dexplane.pto.node.node_id_wide", "node_id (wide)", base.DEC),
  n_iifw    = ProtoField.uint32("dexplane.pto.node.ingress_if_id_wide", "ingress_if_id (wide)", base.DEC),
  n_eifw    = ProtoField.uint32("dexplane.pto.node.egress_if_id_wide", "egress_if_id (wide)", base.DEC),
  n_nsdw    = ProtoField.uint64("dexplane.pto.node.ns_data_wide", "namespace specific data (wide)", base.HEX),
  n_buf     = ProtoField.uint32("dexplane.pto.node.buffer_occupancy", "buffer occupancy", base.DEC),
  n_oss     = ProtoField.bytes("dexplane.pto.node.opaque_state", "opaque state snapshot"),
}
local list = {}
for _, v in pairs(f) do list[#list + 1] = v end
p.fields = list

local e_short = ProtoExpert.new("dexplane.short", "IOAM option shorter than its fields", expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_short }

p.prefs.force_pto = Pref.bool("Decode Pre-allocated Trace", false,
  "Decode PTO even though this Wireshark decodes it itself (ipv6.opt.ioam.trace.*)")

local function has_field(name)
  local ok = pcall(Field.new, name)
  return ok
end
local builtin_pto = has_field("ipv6.opt.ioam.trace.ns")
local builtin_dex = has_field("ipv6.opt.ioam.dex.ns") or has_field("ipv6.opt.ioam.dex.flow_id")

local ipv6_version = Field.new("ipv6.version")

-- Node data of one PTO node, fields in trace-type bit order (RFC 9197 §4.4).
local function pto_node(tree, tvb, off, len, trace)
  local stop = off + len
  local function take(n)
    if off + n > stop then return nil end
    local r = tvb(off, n); off = off + n; return r
  end
  local function bit(b) return bit32.band(trace, bit32.lshift(1, 23 - b)) ~= 0 end
  local r
  if bit(0) then
    r = take(1); if r then tree:add(f.n_hlim, r) end
    r = take(3); if r then tree:add(f.n_id, r) end
  end
  if bit(1) then
    r = take(2); if r then tree:add(f.n_iif, r) end
    r = take(2); if r then tree:add(f.n_eif, r) end
  end
  local four = { [2] = f.n_tss, [3] = f.n_tsf, [4] = f.n_delay, [5] = f.n_nsd, [6] = f.n_qd, [7] = f.n_csum }
  for b = 2, 7 do
    if bit(b) then r = take(4); if r then tree:add(four[b], r) end end
  end
  if bit(8) then
    r = take(8)
    if r then
      tree:add(f.n_hlim, r(0, 1))
      tree:add(f.n_idw, r(1, 7), UInt64.new(r(5, 3):uint(), r(1, 4):uint()):rshift(0))
    end
  end
  if bit(9) then
    r = take(4); if r then tree:add(f.n_iifw, r) end
    r = take(4); if r then tree:add(f.n_eifw, r) end
  end
  if bit(10) then r = take(8); if r then tree:add(f.n_nsdw, r) end end
  if bit(11) then r = take(4); if r then tree:add(f.n_buf, r) end end
  if bit(22) and off < stop then tree:add(f.n_oss, tvb(off, stop - off)) end
end

local function dissect_dex(tree, tvb, body, blen, opt)
  if blen < 8 then opt:add_proto_expert_info(e_short); return end
  tree:add(f.dex_ns, tvb(body, 2))
  tree:add(f.dex_flags, tvb(body + 2, 1))
  local ext = tvb(body + 3, 1):uint()
  local et = tree:add(f.dex_ext, tvb(body + 3, 1))
  et:add(f.dex_ext_f, tvb(body + 3, 1))
  et:add(f.dex_ext_s, tvb(body + 3, 1))
  tree:add(f.dex_trace, tvb(body + 4, 3))
  tree:add(f.dex_rsv, tvb(body + 7, 1))
  local o = body + 8
  -- Optional fields follow in Extension-Flag bit order (RFC 9326 §3.2).
  if bit32.band(ext, 0x80) ~= 0 then
    if o + 4 > body + blen then opt:add_proto_expert_info(e_short); return end
    tree:add(f.dex_flow, tvb(o, 4)); o = o + 4
  end
  if bit32.band(ext, 0x40) ~= 0 then
    if o + 4 > body + blen then opt:add_proto_expert_info(e_short); return end
    tree:add(f.dex_seq, tvb(o, 4)); o = o + 4
  end
end

local function dissect_pto(tree, tvb, body, blen, opt)
  if blen < 8 then opt:add_proto_expert_info(e_short); return end
  tree:add(f.pto_ns, tvb(body, 2))
  local w = tvb(body + 2, 2):uint()
  local nl, fl, rl = bit32.rshift(w, 11), bit32.band(bit32.rshift(w, 7), 0xF), bit32.band(w, 0x7F)
  tree:add(f.pto_nl, tvb(body + 2, 1), nl)
  tree:add(f.pto_flags, tvb(body + 2, 2), fl)
  tree:add(f.pto_rl, tvb(body + 3, 1), rl)
  local trace = tvb(body + 4, 3):uint()
  tree:add(f.pto_trace, tvb(body + 4, 3))
  local data, dlen = body + 8, blen - 8
  if nl == 0 then return end
  -- Nodes fill the data from the end: the first RemLen*4 octets are free.
  local o = data + rl * 4
  local i = 0
  while o + nl * 4 <= data + dlen do
    local nt = tree:add(f.pto_node, tvb(o, nl * 4))
    nt:append_text(string.format(" %d", i))
    pto_node(nt, tvb, o, nl * 4, trace)
    o, i = o + nl * 4, i + 1
  end
end

-- hbh walks the options of the Hop-by-Hop header at off.
local function hbh(tvb, tree, off)
  local len = (tvb(off + 1, 1):uint() + 1) * 8
  if off + len > tvb:len() then len = tvb:len() - off end
  local o = off + 2
  while o < off + len do
    local t = tvb(o, 1):uint()
    if t == 0 then
      o = o + 1
    else
      if o + 2 > off + len then return end
      local olen = tvb(o + 1, 1):uint()
      if o + 2 + olen > off + len then return end
      if IOAM_OPTION[t] and olen >= 2 then
        local itype = tvb(o + 3, 1):uint()
        local want = (itype == TYPE_DEX and not builtin_dex) or
                     (itype == TYPE_PTO and (not builtin_pto or p.prefs.force_pto))
        if want then
          local st = tree:add(p, tvb(o, 2 + olen))
          st:add(f.offset, tvb(o, 1), o - off)
          st:add(f.opt_type, tvb(o, 1))
          st:add(f.ioam_type, tvb(o + 3, 1))
          if itype == TYPE_DEX then
            st:set_text("IOAM Direct Exporting (RFC 9326, dexplane)")
            dissect_dex(st, tvb, o + 4, olen - 2, st)
          else
            st:set_text("IOAM Pre-allocated Trace (RFC 9197, dexplane)")
            dissect_pto(st, tvb, o + 4, olen - 2, st)
          end
        end
      end
      o = o + 2 + olen
    end
  end
end

function p.dissector(tvb, pinfo, tree)
  local v = { ipv6_version() }
  if #v == 0 then return end
  -- The outermost IPv6 header: dexplane's IOAM lives in its Hop-by-Hop header.
  local ip = v[1].offset
  if ip + 48 > tvb:len() or tvb(ip + 6, 1):uint() ~= 0 then return end
  hbh(tvb, tree, ip + 40)
end

register_postdissector(p)
