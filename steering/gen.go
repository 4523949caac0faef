package steering

// steer.c holds every program of the node (dxp_steer, dxp_redirect,
// dxp_tc_peer, dxp_redirect_err) in one object with one loader.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -I/usr/include/x86_64-linux-gnu" -target bpfel -no-global-types steer steer.c

// pass.c is for ip(8) (scripts/testbed.sh), which loads it from the file:
// an object without maps and without a Go loader. No -g: the object then
// carries no build paths and regenerates to the same bytes anywhere.
//go:generate clang -O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu -target bpfel -c pass.c -o pass_bpfel.o
