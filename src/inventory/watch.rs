//! Live updates: netlink multicast events from every namespace, and namespaces appearing or
//! vanishing.

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEvent {
    /// Something in the namespace with this inode changed (link, address, route, neighbour).
    Changed(u64),
    /// A namespace appeared or vanished; re-list them.
    NamespacesChanged,
}

/// Where the watcher delivers events (called from the watcher's own threads).
pub type EventSink = Box<dyn Fn(WatchEvent) + Send + Sync + 'static>;
