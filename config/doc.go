// Package config reads a dexplane node's YAML configuration, validates it
// strictly and compiles it into the data plane's immutable
// policy.Snapshot.
//
// # Loading and reloading
//
// Load (or Parse) returns a *Config with every default filled in, or an
// ErrorList with every problem found: unknown keys, wrong types,
// out-of-range values and broken cross-references, each as
// "FILE:LINE:COLUMN: PATH: MESSAGE" where MESSAGE names the value and what
// would be valid. (*Config).Compile(prev) builds the snapshot; prev lets
// unchanged routes keep their sampler counters. Neither step touches the
// running snapshot, so a reload is all-or-nothing:
//
//	c, err := config.Load(path)        // nothing swapped on error
//	s, err := c.Compile(current.Load()) // nothing swapped on error
//	current.Store(s)                    // the only visible step
//
// The daemon (internal/daemon, Daemon.Reload on SIGHUP) does exactly that
// and refuses changes that need a restart. Default returns the embedded
// demo configuration "dexplane run" uses without -c.
//
// # Schema
//
// Numbers are decimal or 0x hex (a leading 0 is refused: iproute2 would
// read it as octal). Durations are Go durations ("30s"). Defaults in
// brackets.
//
//	node:         id [0xffffff] (24 bits), id_wide [0xffffffffffffff] (56 bits),
//	              address (IPv6; default tunsrc of encap routes)
//	ports:        exactly two: name (Linux ifname), domain inside|outside (required),
//	              ioam_enabled [true inside, false outside], if_id [0xffff],
//	              if_id_wide [0xffffffff], mtu [0 = interface MTU; else 1280..65535],
//	              foreign_ioam drop|strip|forward [drop],
//	              complete_checksums auto|on|off [auto = on for virtual devices]
//	namespaces:   id (16 bits), data (32 bits), data_wide (64 bits),
//	              schema {id (24 bits), data (hex, padded to 4n, <= 64 octets)}
//	routes:       prefix, mode inline|encap|auto [inline], tunsrc [node.address],
//	              tundst (required for encap/auto), freq K/N [1/1],
//	              trace {type, ns, size (octets)} and/or dex {ns, trace_type, ext_flags [0]}
//	              or an iproute2 string (see below)
//	decap:        endpoints: IPv6 addresses whose ip6ip6 tunnels end here
//	flows:        seq_start 0|1 [0], idle_timeout [30s; 0 = never], max_flows [65536],
//	              flow_id {method hash [hash], seed [0]}
//	export:       collectors [{transport udp|tcp|tls [udp], address host[:4739],
//	              tls {ca [system roots], cert, key, server_name [host of address]}
//	              (transport tls only; paths relative to the file),
//	              observation_domain_id [1], template_refresh [60s]}],
//	              rate_limit {records_per_second [10000], burst [0 = 1 s worth],
//	              capacity_fraction [0.001] (or "1/1000")},
//	              outputs [{format text|json, path ["-" = stdout]}]
//	dataplane:    queues [1], rx/tx/fill/completion_ring_size [2048], umem_frames [8192],
//	              frame_size 2048|4096 [2048], batch_size [64], attach_mode
//	              auto|native|generic [auto], steer all|sampled [all],
//	              order_window [0 = off; steer sampled only, at most 1s],
//	              cpus (list or "0-3,6") [none], metrics_address [none; no host = loopback],
//	              metrics_web_config [none; exporter-toolkit web config: TLS, basic auth],
//	              busy_poll [0 = off; at most 1ms], busy_poll_budget [batch_size]
//	options:      merge_hbh [true], strip [true; false = test mode], packet_too_big [false;
//	              true needs node.address]
//
// # Routes
//
// A route is written as a mapping, or in the syntax of the Linux
// implementation the RFC 9326 paper uses, either as a whole string or as
// prefix plus options:
//
//	routes:
//	  - prefix: 2001:db8:1::/48
//	    mode: encap
//	    tundst: 2001:db8:ffff::4
//	    freq: 1/100
//	    dex: {ns: 123, trace_type: 0x800000, ext_flags: 0xc0}
//	  - "2001:db8:2::/48 encap ioam6 freq 1/100 mode encap tundst 2001:db8:ffff::4 dex ns 123 trace-type 0x800000 ext-flags 0xc0"
//	  - prefix: 2001:db8:3::/48
//	    encap: encap ioam6 mode encap tundst 2001:db8:ffff::4 dex ns 123 trace-type 0x800000 ext-flags 0xc0
//
// The string follows iproute2's rules: freq, mode, tunsrc and tundst are
// optional and in that order; mode defaults to inline; tunsrc and tundst
// are refused with inline and tundst is required otherwise; after "dex"
// come trace-type, ns and ext-flags in any order, all three required. All
// forms compile to the same route.
//
// A route may instead, or also, carry the Pre-allocated Trace of mainline
// Linux, written as the kernel's iproute2 reads it: "trace prealloc type
// TYPE ns NS size SIZE" (this order; size in octets, a multiple of 4 from 4
// to 244, enough for one node's data), or "trace: {type, ns, size}". Its
// trace type follows the kernel's rules (not 0, bits 12-21 clear; bit 7 is
// accepted and written as 0xffffffff) plus reserved bit 23. With trace and
// dex on one route, one k/n decision selects a packet for both (so every
// DEX record has the trace of the same packet, as one lwtunnel counter
// would do); the trace is placed first, at Hop-by-Hop offset 4 where the
// kernel puts it, DEX after it. See config/examples/pto-encap.yaml.
//
// The sampling frequency has the kernel's meaning: the first K of every N
// packets matching the route (1 <= K <= N <= 1000000). The trace type may
// not be 0 and may not set bit 7 (checksum complement), bits 12-21
// (undefined) or bit 23 (reserved); the namespace must be configured.
//
// # MTU
//
// A selected packet that would exceed the egress port's MTU (ports[].mtu,
// else the interface MTU) once DEX is added is forwarded without DEX and
// counted (skipped_mtu). With options.packet_too_big: true a route in mode
// encap (or auto) behaves as an RFC 2473 §7.1 tunnel entry instead: if the
// packet is longer than 1280 octets it is discarded and answered with an
// ICMPv6 Packet Too Big (type 2, code 0) sent back out of the port it came
// in on, from node.address (required with the option), hop limit 64,
// reporting MTU max(egress MTU − encapsulation overhead (56, or 64 with
// ext_flags), 1280); at most 100 replies per second per worker (burst 10),
// the rest forwarded without DEX (ptb_sent, ptb_rate_limited). Inline
// routes and packets of at most 1280 octets keep the default behaviour.
// Since only sampled packets are checked, the sender learns the smaller
// MTU from the first sampled large packet, and then every packet of the
// path shrinks: enable it only when that is wanted.
//
// mode auto is the kernel's "inline for locally generated packets, encap
// for forwarded ones". A bump in the wire generates no packets: everything
// it handles is in transit, and RFC 8200 lets only a packet's source add
// extension headers, so auto always means encap here (the compiled route's
// Mode is policy.ModeEncap). inline remains available for deployments
// where the bump sits directly in front of the sending host.
package config
