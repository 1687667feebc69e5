//! The real kernel: rtnetlink and nftables, one worker thread per namespace.
//!
//! Each namespace gets one long-lived OS thread inside it (made with
//! [`crate::netns::spawn_in`], or by `unshare` for a namespace we create) that owns a
//! current-thread tokio runtime and one rtnetlink connection. Calls are sent to the worker and
//! waited for, so no tokio worker ever blocks and no thread ever changes namespace twice.
//! `nft` is spawned from the worker thread, so it inherits the namespace.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoPortKind, InfoVeth, IpVlanMode as NlIpvlanMode, LinkAttribute,
    LinkFlags, LinkInfo, LinkLayerType, LinkMessage, MacVlanMode as NlMacvlanMode,
};
use rtnetlink::packet_route::route::RouteScope;
use rtnetlink::{
    LinkBridge, LinkBridgePort, LinkIpVlan, LinkMacVlan, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use super::firewall::{nft_batch, NftObject, NFT_TABLE};
use super::ops::{LinkFacts, NetnsId, Ns, Ops, TagsAhead};
use super::spec::LOOPBACK_IFNAME;
use super::spec::{IpvlanMode, MacvlanMode};
use super::{KernelError, LabError};
use crate::inventory::dump::RouteSocket;
use crate::netns::pool::{self, Target};
use crate::netns::NETNS_RUN_DIR;
use nix::errno::Errno;
use rtnetlink::packet_route::RouteNetlinkMessage;

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// What a worker thread owns: its runtime and its netlink connection.
struct Worker {
    rt: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
}

struct WorkerRef {
    tx: mpsc::Sender<Job>,
    join: Option<Box<dyn FnOnce() + Send>>,
}

impl WorkerRef {
    /// Close the channel, which ends the worker loop (the thread then exits on its own).
    fn close(&mut self) {
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
    }
}

impl Drop for WorkerRef {
    fn drop(&mut self) {
        // Joining makes sure the thread has left the namespace (so deleting the namespace
        // really frees it).
        self.close();
        if let Some(join) = self.join.take() {
            join();
        }
    }
}

fn kernel(what: impl std::fmt::Display, e: impl Into<KernelError>) -> LabError {
    LabError::kernel(what.to_string(), e)
}

fn nl_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn nl(what: impl std::fmt::Display, e: rtnetlink::Error) -> LabError {
    kernel(what, e)
}

fn worker_loop(rx: mpsc::Receiver<Job>, init: mpsc::Sender<Result<(), LabError>>, pre: PreWork) {
    let built = (|| -> Result<Worker, LabError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| kernel("tokio runtime", e))?;
        let (conn, handle, _) = {
            let _g = rt.enter();
            rtnetlink::new_connection().map_err(|e| kernel("netlink socket", e))?
        };
        rt.spawn(conn);
        let mut w = Worker { rt, handle };
        if let PreWork::NewNetns { path, tag } = &pre {
            new_netns_body(&mut w, path, tag)?;
        }
        Ok(w)
    })();
    let mut w = match built {
        Ok(w) => {
            let _ = init.send(Ok(()));
            w
        }
        Err(e) => {
            let _ = init.send(Err(e));
            return;
        }
    };
    while let Ok(job) = rx.recv() {
        job(&mut w);
    }
}

enum PreWork {
    None,
    /// This thread has unshared a fresh namespace: tag its `lo`, then make it visible.
    NewNetns {
        path: PathBuf,
        tag: String,
    },
}

/// Tag and raise `lo`, then bind the namespace to /run/netns/NAME. The tag is set before the
/// name appears, so `clean` can always tell our namespaces from look-alikes.
fn new_netns_body(w: &mut Worker, path: &Path, tag: &str) -> Result<(), LabError> {
    let h = w.handle.clone();
    let tag = tag.to_string();
    w.rt.block_on(async move {
        h.link()
            .set(LinkUnspec::new_with_name("lo").alias(tag).up().build())
            .execute()
            .await
    })
    .map_err(|e| nl("tag lo", e))?;
    // A new namespace copies the root's IPv4 settings (net.core.devconf_inherit_init_net=0
    // means "inherit" for IPv4), and Docker sets the root's ip_forward to 1: set it here, so
    // the lab's namespaces forward only where the lab says so (docker0's host).
    std::fs::write(
        Path::new("/proc/sys").join(super::driver::bridge::IP_FORWARD),
        "0\n",
    )
    .map_err(|e| kernel("set ip_forward in a new namespace", e))?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                kernel(
                    format!(
                        "create namespace {}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    Errno::EEXIST,
                )
            } else {
                kernel(format!("create {}", path.display()), e)
            }
        })?;
    if let Err(e) = mount(
        Some("/proc/thread-self/ns/net"),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(path);
        return Err(kernel(format!("bind {}", path.display()), e));
    }
    Ok(())
}

/// Make /run/netns a shared mount point, as `ip netns add` does, so namespaces we name are
/// visible to `ip netns` in every mount namespace.
fn prepare_netns_dir() -> Result<(), LabError> {
    let dir = Path::new(NETNS_RUN_DIR);
    std::fs::create_dir_all(dir).map_err(|e| kernel("create /run/netns", e))?;
    let mut made = false;
    loop {
        match mount(
            Some(""),
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) if !made => {
                mount(
                    Some(dir),
                    dir,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| kernel("bind /run/netns", e))?;
                made = true;
            }
            Err(e) => return Err(kernel("share /run/netns", e)),
        }
    }
}

fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

fn open_ns(ns: &Ns) -> Result<File, LabError> {
    let path = match ns {
        // The thread-group leader's namespace: netview's own (the main thread never moves).
        Ns::Current => PathBuf::from("/proc/self/ns/net"),
        Ns::Named(n) => netns_path(n),
    };
    File::open(&path).map_err(|e| kernel(format!("open {}", path.display()), e))
}

async fn index_of(h: &rtnetlink::Handle, name: &str) -> Result<u32, LabError> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(m.header.index),
        Ok(None) => Err(kernel(format!("link {name}"), Errno::ENODEV)),
        Err(e) => Err(nl(format!("link {name}"), e)),
    }
}

async fn link_facts(h: &rtnetlink::Handle, name: &str) -> Result<Option<LinkFacts>, LabError> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    let msg: LinkMessage = match s.try_next().await {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) if nl_errno(&e) == Some(libc::ENODEV) => return Ok(None),
        Err(e) => return Err(nl(format!("link {name}"), e)),
    };
    let mut f = LinkFacts {
        name: name.to_string(),
        index: msg.header.index,
        up: msg.header.flags.contains(LinkFlags::Up),
        loopback: msg.header.link_layer_type == LinkLayerType::Loopback
            || msg.header.flags.contains(LinkFlags::Loopback),
        promisc: msg.header.flags.contains(LinkFlags::Promisc),
        ..Default::default()
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Address(a) if a.len() == 6 => {
                f.mac = Some(
                    a.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
            LinkAttribute::IfAlias(a) => f.alias = Some(a.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => {
                            f.is_bridge = *k == InfoKind::Bridge;
                            f.kind = Some(k.to_string());
                        }
                        LinkInfo::PortKind(InfoPortKind::Bridge) => f.is_bridge_port = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut a = h.address().get().set_link_index_filter(f.index).execute();
    while let Some(m) = a.try_next().await.map_err(|e| nl("addresses", e))? {
        if m.header.index != f.index {
            continue;
        }
        for attr in &m.attributes {
            if let AddressAttribute::Address(IpAddr::V4(ip)) = attr {
                if let Ok(net) = Ipv4Net::new(*ip, m.header.prefix_len) {
                    f.addresses.push(net);
                }
            }
        }
    }
    Ok(Some(f))
}

/// Add a macvlan/ipvlan child, waiting out EBUSY for a while: a parent whose previous
/// children are still being freed with their namespace (asynchronously) refuses a passthru
/// child or a child of the other kind until then.
async fn add_retrying_busy(h: &rtnetlink::Handle, msg: LinkMessage) -> Result<(), LabError> {
    let mut tries = 0;
    loop {
        match h.link().add(msg.clone()).execute().await {
            Ok(()) => return Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EBUSY) && tries < 100 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(plain(e)),
        }
    }
}

/// The alias of `lo` in the calling thread's namespace (our tag), with one synchronous
/// request: no runtime, no connection task.
fn lo_alias_here() -> Option<String> {
    let mut socket = RouteSocket::open().ok()?;
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::IfName(LOOPBACK_IFNAME.to_string()));
    let answers = socket
        .request(RouteNetlinkMessage::GetLink(msg), "lo")
        .ok()?;
    answers.into_iter().find_map(|m| match m {
        RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::IfAlias(a) => Some(a),
            _ => None,
        }),
        _ => None,
    })
}

/// The real kernel.
#[derive(Default)]
pub struct NetlinkOps {
    workers: HashMap<Ns, WorkerRef>,
    netns_dir_ready: bool,
    tags_ahead: TagsAhead,
}

impl Drop for NetlinkOps {
    fn drop(&mut self) {
        // Tell every worker to stop first, then join them: one by one, each join waited for
        // its thread to wake up and take its runtime down while the others still slept
        // (40 workers after `lab add` of 40 containers, strace -f -tt).
        for w in self.workers.values_mut() {
            w.close();
        }
        self.workers.clear();
    }
}

impl NetlinkOps {
    pub fn new() -> Self {
        Self::default()
    }

    fn worker(&mut self, ns: &Ns) -> Result<&WorkerRef, LabError> {
        if !self.workers.contains_key(ns) {
            let (tx, rx) = mpsc::channel::<Job>();
            let (itx, irx) = mpsc::channel();
            let join: Box<dyn FnOnce() + Send> = match ns {
                Ns::Current => {
                    let h = std::thread::Builder::new()
                        .name("netview-self".into())
                        .spawn(move || worker_loop(rx, itx, PreWork::None))
                        .map_err(|e| kernel("thread", e))?;
                    Box::new(move || {
                        let _ = h.join();
                    })
                }
                Ns::Named(n) => {
                    let path = netns_path(n);
                    if !path.exists() {
                        return Err(kernel(format!("enter namespace {n}"), Errno::ENOENT));
                    }
                    let h = crate::netns::spawn_in(n, &path, move || {
                        worker_loop(rx, itx, PreWork::None)
                    })
                    .map_err(|e| kernel(n, e))?;
                    Box::new(move || {
                        let _ = h.join();
                    })
                }
            };
            match irx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(kernel(
                        format!("enter namespace {ns}"),
                        KernelError::Internal("the worker thread ended".into()),
                    ))
                }
            }
            self.workers.insert(
                ns.clone(),
                WorkerRef {
                    tx,
                    join: Some(join),
                },
            );
        }
        Ok(&self.workers[ns])
    }

    /// Run `f` on the worker inside `ns` and wait for its result.
    fn call<T, F>(&mut self, ns: &Ns, f: F) -> Result<T, LabError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Worker) -> Result<T, LabError> + Send + 'static,
    {
        let w = self.worker(ns)?;
        let (rtx, rrx) = mpsc::channel();
        w.tx.send(Box::new(move |w: &mut Worker| {
            let _ = rtx.send(f(w));
        }))
        .map_err(|_| worker_gone(ns))?;
        rrx.recv().map_err(|_| worker_gone(ns))?
    }

    /// Run an async netlink request on the worker in `ns`.
    /// Add a link stacked on `parent` in `ns` (a macvlan or ipvlan child), created straight
    /// into `target` when that is another namespace. `build` makes the message from the
    /// parent's index and, for another namespace, the fd to move it there.
    fn add_stacked(
        &mut self,
        ns: &Ns,
        parent: &str,
        target: &Ns,
        what: String,
        build: impl FnOnce(u32, Option<std::os::fd::RawFd>) -> LinkMessage + Send + 'static,
    ) -> Result<(), LabError> {
        let fd_file = if target != ns {
            Some(open_ns(target)?)
        } else {
            None
        };
        let parent = parent.to_string();
        self.nl(ns, what, move |h| async move {
            let idx = index_of(&h, &parent).await?;
            let msg = build(idx, fd_file.as_ref().map(|f| f.as_raw_fd()));
            let r = add_retrying_busy(&h, msg).await;
            // The namespace file stays open until the kernel has taken the link there.
            drop(fd_file);
            r
        })
    }

    fn nl<F, Fut>(&mut self, ns: &Ns, what: String, f: F) -> Result<(), LabError>
    where
        F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), LabError>>,
    {
        let ns_label = ns.to_string();
        self.call(ns, move |w| {
            let h = w.handle.clone();
            w.rt.block_on(f(h))
                .map_err(|e| e.in_context(&format!("{what} in {ns_label}")))
        })
    }
}

/// A netlink error whose operation the caller names (see [`NetlinkOps::nl`]).
fn plain(e: rtnetlink::Error) -> LabError {
    LabError::kernel(String::new(), e)
}

fn worker_gone(ns: &Ns) -> LabError {
    kernel(
        format!("the worker in {ns}"),
        KernelError::Internal("the thread ended".into()),
    )
}

impl Ops for NetlinkOps {
    fn create_netns(&mut self, name: &str, tag: &str) -> Result<(), LabError> {
        let (_, err) = self.create_netns_many(&[name.to_string()], tag);
        err.map_or(Ok(()), Err)
    }

    fn create_netns_many(
        &mut self,
        names: &[String],
        tag: &str,
    ) -> (Vec<String>, Option<LabError>) {
        if names.is_empty() {
            return (Vec::new(), None);
        }
        if !self.netns_dir_ready {
            if let Err(e) = prepare_netns_dir() {
                return (Vec::new(), Some(e));
            }
            self.netns_dir_ready = true;
        }
        // One thread per namespace, all at once: the kernel builds namespaces in parallel.
        let mut starting = Vec::new();
        let mut first_err = None;
        for name in names {
            let ns = Ns::named(name);
            if self.workers.contains_key(&ns) || netns_path(name).exists() {
                first_err.get_or_insert(kernel(format!("create namespace {name}"), Errno::EEXIST));
                continue;
            }
            let (tx, rx) = mpsc::channel::<Job>();
            let (itx, irx) = mpsc::channel();
            let path = netns_path(name);
            let tag = tag.to_string();
            let spawned = std::thread::Builder::new()
                .name("netview-newns".into())
                .spawn(move || {
                    // A fresh namespace for this thread only; it lives on through the bind
                    // mount.
                    if let Err(e) = unshare(CloneFlags::CLONE_NEWNET) {
                        let _ = itx.send(Err(kernel("unshare", e)));
                        return;
                    }
                    worker_loop(rx, itx, PreWork::NewNetns { path, tag })
                });
            match spawned {
                Ok(join) => starting.push((name.clone(), tx, irx, join)),
                Err(e) => {
                    first_err.get_or_insert(kernel("thread", e));
                }
            }
        }
        let mut created = Vec::new();
        for (name, tx, irx, join) in starting {
            match irx.recv() {
                Ok(Ok(())) => {
                    self.workers.insert(
                        Ns::named(&name),
                        WorkerRef {
                            tx,
                            join: Some(Box::new(move || {
                                let _ = join.join();
                            })),
                        },
                    );
                    created.push(name);
                }
                Ok(Err(e)) => {
                    let _ = join.join();
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    let _ = join.join();
                    first_err.get_or_insert(kernel(
                        format!("create namespace {name}"),
                        KernelError::Internal("the thread ended".into()),
                    ));
                }
            }
        }
        (created, first_err)
    }

    fn delete_netns(&mut self, name: &str) -> Result<(), LabError> {
        self.forget_netns(name);
        self.tags_ahead.forget(name);
        let path = netns_path(name);
        if !path.exists() {
            return Err(kernel(format!("delete namespace {name}"), Errno::ENOENT));
        }
        // Not mounted (a crash between creating the file and binding it) is fine too.
        let _ = umount2(&path, MntFlags::MNT_DETACH);
        std::fs::remove_file(&path).map_err(|e| kernel(format!("remove {}", path.display()), e))
    }

    fn forget_netns(&mut self, name: &str) {
        self.workers.remove(&Ns::named(name));
    }

    fn add_veth(&mut self, ns: &Ns, name: &str, peer_ns: &Ns, peer: &str) -> Result<(), LabError> {
        let fd_file = if peer_ns != ns {
            Some(open_ns(peer_ns)?)
        } else {
            None
        };
        let (name, peer) = (name.to_string(), peer.to_string());
        self.nl(ns, format!("add veth {name}/{peer}"), move |h| async move {
            let mut peer_msg = LinkUnspec::new_with_name(&peer);
            if let Some(f) = &fd_file {
                peer_msg = peer_msg.setns_by_fd(f.as_raw_fd());
            }
            let msg = LinkVeth::new(&name, &peer)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())))
                .build();
            let r = h.link().add(msg).execute().await.map_err(plain);
            drop(fd_file);
            r
        })
    }

    fn add_bridge(&mut self, ns: &Ns, name: &str) -> Result<(), LabError> {
        let name = name.to_string();
        self.nl(ns, format!("add bridge {name}"), move |h| async move {
            h.link()
                .add(LinkBridge::new(&name).build())
                .execute()
                .await
                .map_err(plain)
        })
    }

    fn add_macvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: MacvlanMode,
        target: &Ns,
    ) -> Result<(), LabError> {
        let mode = match mode {
            MacvlanMode::Bridge => NlMacvlanMode::Bridge,
            MacvlanMode::Private => NlMacvlanMode::Private,
            MacvlanMode::Vepa => NlMacvlanMode::Vepa,
            MacvlanMode::Passthru => NlMacvlanMode::Passthrough,
        };
        let owned = name.to_string();
        self.add_stacked(
            ns,
            parent,
            target,
            format!("add macvlan {name} on {parent}"),
            move |idx, fd| {
                let b = LinkMacVlan::new(&owned, idx, mode);
                match fd {
                    Some(fd) => b.setns_by_fd(fd).build(),
                    None => b.build(),
                }
            },
        )
    }

    fn add_ipvlan(
        &mut self,
        ns: &Ns,
        parent: &str,
        name: &str,
        mode: IpvlanMode,
        target: &Ns,
    ) -> Result<(), LabError> {
        let mode = match mode {
            IpvlanMode::L2 => NlIpvlanMode::L2,
            IpvlanMode::L3 => NlIpvlanMode::L3,
            IpvlanMode::L3s => NlIpvlanMode::L3S,
        };
        let owned = name.to_string();
        self.add_stacked(
            ns,
            parent,
            target,
            format!("add ipvlan {name} on {parent}"),
            move |idx, fd| {
                let b = LinkIpVlan::new(&owned, idx, mode);
                match fd {
                    Some(fd) => b.setns_by_fd(fd).build(),
                    None => b.build(),
                }
            },
        )
    }

    fn delete_link(&mut self, ns: &Ns, name: &str) -> Result<(), LabError> {
        let name = name.to_string();
        self.nl(ns, format!("delete {name}"), move |h| async move {
            let idx = index_of(&h, &name).await?;
            h.link().del(idx).execute().await.map_err(plain)
        })
    }

    fn set_alias(&mut self, ns: &Ns, link: &str, alias: &str) -> Result<(), LabError> {
        let (link, alias) = (link.to_string(), alias.to_string());
        self.nl(ns, format!("alias {link}"), move |h| async move {
            h.link()
                .set(LinkUnspec::new_with_name(&link).alias(alias).build())
                .execute()
                .await
                .map_err(plain)
        })
    }

    fn set_up(&mut self, ns: &Ns, link: &str, up: bool) -> Result<(), LabError> {
        let link = link.to_string();
        self.nl(ns, format!("set {link} up"), move |h| async move {
            let b = LinkUnspec::new_with_name(&link);
            let b = if up { b.up() } else { b.down() };
            h.link().set(b.build()).execute().await.map_err(plain)
        })
    }

    fn set_master(&mut self, ns: &Ns, link: &str, master: &str) -> Result<(), LabError> {
        let (link, master) = (link.to_string(), master.to_string());
        self.nl(
            ns,
            format!("set {link} master {master}"),
            move |h| async move {
                let m = index_of(&h, &master).await?;
                h.link()
                    .set(LinkUnspec::new_with_name(&link).controller(m).build())
                    .execute()
                    .await
                    .map_err(plain)
            },
        )
    }

    fn set_promisc(&mut self, ns: &Ns, link: &str, on: bool) -> Result<(), LabError> {
        let link = link.to_string();
        self.nl(ns, format!("set {link} promisc"), move |h| async move {
            h.link()
                .set(LinkUnspec::new_with_name(&link).promiscuous(on).build())
                .execute()
                .await
                .map_err(plain)
        })
    }

    fn set_hairpin(&mut self, ns: &Ns, port: &str, on: bool) -> Result<(), LabError> {
        let port = port.to_string();
        self.nl(ns, format!("set {port} hairpin"), move |h| async move {
            let idx = index_of(&h, &port).await?;
            h.link()
                .set_port(LinkBridgePort::new(idx).hairpin(on).build())
                .execute()
                .await
                .map_err(plain)
        })
    }

    fn add_addr(&mut self, ns: &Ns, link: &str, addr: Ipv4Net) -> Result<(), LabError> {
        let link = link.to_string();
        self.nl(ns, format!("add {addr} to {link}"), move |h| async move {
            let idx = index_of(&h, &link).await?;
            h.address()
                .add(idx, IpAddr::V4(addr.addr()), addr.prefix_len())
                .execute()
                .await
                .map_err(plain)
        })
    }

    fn add_route(
        &mut self,
        ns: &Ns,
        dest: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        dev: Option<&str>,
    ) -> Result<(), LabError> {
        let dev = dev.map(String::from);
        self.nl(ns, format!("add route {dest}"), move |h| async move {
            let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(dest.network(), dest.prefix_len());
            if let Some(g) = gateway {
                b = b.gateway(g);
            } else {
                b = b.scope(RouteScope::Link);
            }
            if let Some(d) = &dev {
                b = b.output_interface(index_of(&h, d).await?);
            }
            h.route().add(b.build()).execute().await.map_err(plain)
        })
    }

    fn set_sysctl(&mut self, ns: &Ns, key: &str, value: &str) -> Result<(), LabError> {
        let path = sysctl_path(key)?;
        let value = value.to_string();
        self.call(ns, move |_| {
            std::fs::write(&path, format!("{value}\n"))
                .map_err(|e| kernel(format!("write {}", path.display()), e))
        })
    }

    fn nft_table(&mut self, ns: &Ns, rules: Option<&[NftObject]>) -> Result<(), LabError> {
        let payload = nft_batch(rules);
        let ns_label = ns.to_string();
        self.call(ns, move |_| {
            nftables::helper::apply_ruleset(&payload)
                .map_err(|e| kernel(format!("nft in {ns_label}"), e))
        })
    }

    fn link(&mut self, ns: &Ns, name: &str) -> Result<Option<LinkFacts>, LabError> {
        let name = name.to_string();
        let current = *ns == Ns::Current;
        self.call(ns, move |w| {
            let h = w.handle.clone();
            let mut f = w.rt.block_on(link_facts(&h, &name))?;
            if let Some(f) = f.as_mut() {
                f.wireless = is_wireless(&name, f.index, current);
            }
            Ok(f)
        })
    }

    fn get_sysctl(&mut self, ns: &Ns, key: &str) -> Result<String, LabError> {
        let path = sysctl_path(key)?;
        self.call(ns, move |_| {
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .map_err(|e| kernel(format!("read {}", path.display()), e))
        })
    }

    fn ipvlan_supported(&mut self, ns: &Ns) -> Result<bool, LabError> {
        // An ipvlan request without a parent: a kernel that knows ipvlan refuses it for the
        // missing parent (EINVAL); one that does not says EOPNOTSUPP. Nothing is created.
        self.call(ns, move |w| {
            let h = w.handle.clone();
            w.rt.block_on(async move {
                let msg = rtnetlink::LinkMessageBuilder::<LinkIpVlan>::new("nvprobe0")
                    .mode(NlIpvlanMode::L2)
                    .build();
                match h.link().add(msg).execute().await {
                    Ok(()) => {
                        if let Ok(i) = index_of(&h, "nvprobe0").await {
                            let _ = h.link().del(i).execute().await;
                        }
                        Ok(true)
                    }
                    Err(e) => Ok(nl_errno(&e) != Some(libc::EOPNOTSUPP)),
                }
            })
        })
    }

    fn list_netns(&mut self) -> Result<Vec<String>, LabError> {
        let mut out: Vec<String> = match std::fs::read_dir(NETNS_RUN_DIR) {
            Ok(d) => d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(kernel("read /run/netns", e)),
        };
        out.sort();
        Ok(out)
    }

    fn netns_tag(&mut self, name: &str) -> Option<String> {
        let now = self.netns_id(name);
        if let Some(tag) = self.tags_ahead.take(name, now) {
            return tag;
        }
        // A plain file (not a namespace) cannot be entered; it has no tag.
        crate::netns::run_in(name, &netns_path(name), lo_alias_here).ok()?
    }

    fn read_tags_ahead(&mut self, names: &[String]) {
        // On a few reused threads, before anything is deleted: one by one, each on a thread
        // of its own, the reads of `lab rm` of 160 namespaces waited more and more for the
        // kernel's cleanup of the namespaces deleted before them (2 ms apart at first, 5-20
        // ms at the end, strace -tt).
        let paths: Vec<PathBuf> = names.iter().map(|n| netns_path(n)).collect();
        let ids: Vec<Option<NetnsId>> = names.iter().map(|n| self.netns_id(n)).collect();
        let targets: Vec<Target<'_>> = names
            .iter()
            .zip(&paths)
            .map(|(label, path)| Target { label, path })
            .collect();
        let tags = pool::for_each_in(pool::default_threads(), &targets, |_| lo_alias_here());
        for ((name, id), tag) in names.iter().zip(ids).zip(tags) {
            if let (Some(id), Ok(tag)) = (id, tag) {
                self.tags_ahead.put(name, id, tag);
            }
        }
    }

    fn tagged_links(&mut self, ns: &Ns, tag: &str) -> Result<Vec<String>, LabError> {
        let tag = tag.to_string();
        self.call(ns, move |w| {
            let h = w.handle.clone();
            w.rt.block_on(async move {
                let mut s = h.link().get().execute();
                let mut out = Vec::new();
                while let Some(m) = s.try_next().await.map_err(|e| nl("links", e))? {
                    let mut name = None;
                    let mut alias = None;
                    for a in m.attributes {
                        match a {
                            LinkAttribute::IfName(n) => name = Some(n),
                            LinkAttribute::IfAlias(a) => alias = Some(a),
                            _ => {}
                        }
                    }
                    if let (Some(n), Some(a)) = (name, alias) {
                        if a == tag && n != "lo" {
                            out.push(n);
                        }
                    }
                }
                Ok(out)
            })
        })
    }

    fn netns_unbound(&mut self, name: &str) -> bool {
        use std::os::unix::fs::MetadataExt;
        // A bound namespace shows the nsfs inode (another device) through the bind mount.
        match (
            std::fs::metadata(netns_path(name)),
            std::fs::metadata(NETNS_RUN_DIR),
        ) {
            (Ok(f), Ok(d)) => f.is_file() && f.len() == 0 && f.dev() == d.dev(),
            _ => false,
        }
    }

    fn netns_id(&mut self, name: &str) -> Option<NetnsId> {
        use std::os::unix::fs::MetadataExt;
        // Through the bind mount the name shows the nsfs inode of the namespace itself
        // (lstat: a symlink planted there is not followed, and matches nothing recorded).
        std::fs::symlink_metadata(netns_path(name))
            .ok()
            .map(|m| NetnsId {
                dev: m.dev(),
                ino: m.ino(),
            })
    }

    fn nft_table_exists(&mut self, ns: &Ns) -> Result<bool, LabError> {
        self.call(ns, move |_| {
            let out = std::process::Command::new("nft")
                .args(["list", "table", "ip", NFT_TABLE])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map_err(|e| kernel("run nft", e))?;
            Ok(out.success())
        })
    }
}

/// Whether a link is wireless. /proc/thread-self/net/wireless follows this thread's namespace;
/// sysfs shows the namespace that mounted /sys, so it is only believed when the index matches.
fn is_wireless(name: &str, index: u32, current: bool) -> bool {
    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/wireless") {
        if text
            .lines()
            .skip(2)
            .any(|l| l.trim_start().split(':').next() == Some(name))
        {
            return true;
        }
    }
    if !current {
        return false;
    }
    let d = Path::new("/sys/class/net").join(name);
    let same = std::fs::read_to_string(d.join("ifindex"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        == Some(index);
    same && (d.join("wireless").exists() || d.join("phy80211").exists())
}

fn sysctl_path(key: &str) -> Result<PathBuf, LabError> {
    if key.split('/').any(|p| p.is_empty() || p == "..") || !key.starts_with("net/") {
        return Err(kernel(format!("sysctl {key}"), Errno::EINVAL));
    }
    Ok(Path::new("/proc/sys").join(key))
}
