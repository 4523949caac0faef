// afxdp-floor: the smallest AF_XDP L2 forwarder the benchmark harness
// measures as a baseline ("afxdp-floor"): what a bump in the wire costs on
// this machine when userspace does nothing but move descriptors. Two ports,
// one queue each, one shared UMEM (a frame leaves from the chunk it arrived
// in, no copy), batches of up to -b frames, a busy loop (no poll), libxdp's
// default XDP program redirecting every frame of the queue to the socket.
// dexplane's per-packet work is what it adds on top of this.
//
//   afxdp-floor [-q QUEUE] [-b BATCH] [-m skb|native] [-z] [-t BUDGET] PORT_A PORT_B
//
// -z asks for zero-copy; -t raises XDP_MAX_TX_SKB_BUDGET (copy mode sends at
// most 32 frames per sendto otherwise; Linux >= 6.17, ignored if refused).
// SIGINT/SIGTERM stop it; it prints its counters to stderr and removes its
// XDP programs. Build: cc -O2 -o afxdp-floor afxdp-floor.c -lxdp -lbpf
// (Debian: libxdp-dev, libbpf-dev).
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define FRAME_SIZE 2048
#define RING 2048
#define FILL (2 * RING)
#define NUM_FRAMES (2 * (FILL + RING))
#define MAX_BATCH 256
#define MAX_KICKS 8

struct port {
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx, cq;
	struct xsk_ring_prod tx, fq;
	unsigned long rx_frames, tx_frames, kicks;
	unsigned outstanding;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t free_list[NUM_FRAMES];
static unsigned n_free;

static void die(const char *what, int err)
{
	fprintf(stderr, "afxdp-floor: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

// refill tops up a fill ring from the free list.
static void refill(struct port *p)
{
	uint32_t idx;
	unsigned n = xsk_prod_nb_free(&p->fq, n_free);
	if (n > n_free)
		n = n_free;
	if (n == 0)
		return;
	if (xsk_ring_prod__reserve(&p->fq, n, &idx) != n)
		return;
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&p->fq, idx + i) = free_list[--n_free];
	xsk_ring_prod__submit(&p->fq, n);
	if (xsk_ring_prod__needs_wakeup(&p->fq))
		recvfrom(xsk_socket__fd(p->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

// reap moves completed TX frames to the free list.
static void reap(struct port *p)
{
	uint32_t idx;
	unsigned n = xsk_ring_cons__peek(&p->cq, RING, &idx);
	for (unsigned i = 0; i < n; i++)
		free_list[n_free++] = *xsk_ring_cons__comp_addr(&p->cq, idx + i) & ~(uint64_t)(FRAME_SIZE - 1);
	if (n) {
		xsk_ring_cons__release(&p->cq, n);
		p->outstanding -= n;
	}
}

// kick makes the kernel transmit what waits in p's TX ring (copy mode
// sends a budget of frames per call, so kick again while some remain).
static void kick(struct port *p)
{
	if (!p->outstanding || !xsk_ring_prod__needs_wakeup(&p->tx))
		return;
	for (int k = 0; k < MAX_KICKS; k++) {
		p->kicks++;
		if (sendto(xsk_socket__fd(p->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EBUSY)
			return;
		if (xsk_ring_prod__needs_wakeup(&p->tx) == 0 || *p->tx.consumer == *p->tx.producer)
			return;
	}
}

// forward moves one batch from in's RX ring to out's TX ring.
static unsigned forward(struct port *in, struct port *out, unsigned batch)
{
	uint32_t rx_idx, tx_idx;
	unsigned n = xsk_ring_cons__peek(&in->rx, batch, &rx_idx);
	if (n == 0) {
		kick(out);
		return 0;
	}
	while (xsk_ring_prod__reserve(&out->tx, n, &tx_idx) != n) {
		kick(out);
		reap(out);
		if (stop)
			return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&in->rx, rx_idx + i);
		struct xdp_desc *t = xsk_ring_prod__tx_desc(&out->tx, tx_idx + i);
		t->addr = d->addr;
		t->len = d->len;
		t->options = 0;
	}
	xsk_ring_prod__submit(&out->tx, n);
	xsk_ring_cons__release(&in->rx, n);
	in->rx_frames += n;
	out->tx_frames += n;
	out->outstanding += n;
	kick(out);
	return n;
}

int main(int argc, char **argv)
{
	int queue = 0, batch = 64, zc = 0, budget = 0, opt;
	uint32_t xdp_flags = XDP_FLAGS_SKB_MODE;
	while ((opt = getopt(argc, argv, "q:b:m:zt:")) != -1) {
		switch (opt) {
		case 'q': queue = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'm': xdp_flags = strcmp(optarg, "native") == 0 ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE; break;
		case 'z': zc = 1; break;
		case 't': budget = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || batch < 1 || batch > MAX_BATCH) {
	usage:
		fprintf(stderr, "usage: afxdp-floor [-q QUEUE] [-b BATCH<=%d] [-m skb|native] [-z] [-t BUDGET] PORT_A PORT_B\n", MAX_BATCH);
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	size_t size = (size_t)NUM_FRAMES * FRAME_SIZE;
	void *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (area == MAP_FAILED)
		die("mmap", errno);
	struct port ports[2];
	memset(ports, 0, sizeof ports);
	struct xsk_umem *umem;
	struct xsk_umem_config ucfg = {
		.fill_size = FILL, .comp_size = RING, .frame_size = FRAME_SIZE,
		.frame_headroom = 0, .flags = 0,
	};
	int err = xsk_umem__create(&umem, area, size, &ports[0].fq, &ports[0].cq, &ucfg);
	if (err)
		die("xsk_umem__create", err);
	struct xsk_socket_config scfg = {
		.rx_size = RING, .tx_size = RING, .libxdp_flags = 0, .xdp_flags = xdp_flags,
		.bind_flags = XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY),
	};
	for (int i = 0; i < 2; i++) {
		const char *ifname = argv[optind + i];
		struct port *p = &ports[i];
		if (i == 0)
			err = xsk_socket__create(&p->xsk, ifname, queue, umem, &p->rx, &p->tx, &scfg);
		else
			err = xsk_socket__create_shared(&p->xsk, ifname, queue, umem, &p->rx, &p->tx, &p->fq, &p->cq, &scfg);
		if (err)
			die(ifname, err);
		if (budget > 0)
			setsockopt(xsk_socket__fd(p->xsk), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof budget);
	}
	for (unsigned i = 0; i < NUM_FRAMES; i++)
		free_list[n_free++] = (uint64_t)i * FRAME_SIZE;
	refill(&ports[0]);
	refill(&ports[1]);
	fprintf(stderr, "afxdp-floor: forwarding %s <-> %s queue %d, batch %d, %s, %s\n", argv[optind], argv[optind + 1],
		queue, batch, xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "skb", zc ? "zero-copy" : "copy");

	while (!stop) {
		reap(&ports[0]);
		reap(&ports[1]);
		forward(&ports[0], &ports[1], batch);
		forward(&ports[1], &ports[0], batch);
		refill(&ports[0]);
		refill(&ports[1]);
	}
	for (int i = 0; i < 2; i++) {
		fprintf(stderr, "afxdp-floor: port %d rx %lu tx %lu kicks %lu\n", i, ports[i].rx_frames, ports[i].tx_frames,
			ports[i].kicks);
		xsk_socket__delete(ports[i].xsk);
	}
	xsk_umem__delete(umem);
	return 0;
}
