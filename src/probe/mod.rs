//! Probes: ICMP echo, ARP, TCP and the expected-versus-observed matrix.
