//! Privileged: the watcher reports changes in a namespace, namespaces appearing, and lets a
//! deleted namespace die (its socket must not keep it alive).

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netview::inventory::watch::{self, WatchEvent};
use netview::netns;

struct TestNs(String);

impl TestNs {
    fn new(tag: &str) -> Self {
        let name = format!("nvt-watch-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        TestNs(name)
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {args:?}");
}

/// Names of this process's threads that netview's namespace code started.
fn namespace_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if comm.starts_with("netns") {
            names.push(comm.to_string());
        }
    }
    names
}

/// Wait (up to a generous limit: this checks that events come, not how fast) for an event
/// matching `want`.
fn wait_for(rx: &mpsc::Receiver<WatchEvent>, want: impl Fn(&WatchEvent) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) if want(&ev) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn reports_changes_new_namespaces_and_releases_deleted_ones() {
    let a = TestNs::new("a");
    let _more: Vec<TestNs> = (0..4).map(|i| TestNs::new(&format!("m{i}"))).collect();
    let target = netns::find(&a.0).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let handle = watch::spawn(
        &netns::discover(),
        Box::new(move |ev| {
            let _ = tx.lock().unwrap().send(ev);
        }),
    );
    assert!(handle.watched().contains(&target.id));
    // Every namespace on the machine is watched, by one thread: not one thread each.
    // (A new thread takes its name once it runs: wait for it to.)
    // The pool threads that opened the sockets inside each namespace (`netns:pool`) end
    // once their work is done; wait for that too.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut watching = namespace_threads();
    while watching != ["netns-watch"] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        watching = namespace_threads();
    }
    assert!(handle.watched().len() >= 6);
    assert_eq!(
        watching,
        vec!["netns-watch".to_string()],
        "{} namespaces watched",
        handle.watched().len()
    );
    // Give the watcher thread a moment to subscribe before changing things.
    std::thread::sleep(Duration::from_millis(200));
    while rx.try_recv().is_ok() {}

    ip(&[
        "-n", &a.0, "link", "add", "w0", "type", "veth", "peer", "name", "w1",
    ]);
    assert!(
        wait_for(&rx, |e| *e == WatchEvent::Changed(target.id)),
        "no Changed event for a link added in the namespace"
    );

    let b = TestNs::new("b");
    let b_id = netns::find(&b.0).unwrap().id;
    // Other namespaces may come and go on this machine meanwhile: wait for the event that
    // comes with b being watched.
    assert!(
        wait_for(&rx, |e| *e == WatchEvent::NamespacesChanged
            && handle.watched().contains(&b_id)),
        "no NamespacesChanged with the new named namespace watched"
    );

    // A veth with one end in b: when b is deleted, the namespace must be destroyed (the end
    // in a vanishes), even though the watcher had a socket in it.
    ip(&[
        "-n", &a.0, "link", "add", "x0", "type", "veth", "peer", "name", "x1", "netns", &b.0,
    ]);
    ip(&["netns", "del", &b.0]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = Command::new("ip")
            .args(["-n", &a.0, "link", "show", "x0"])
            .output()
            .unwrap();
        if !out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted namespace is kept alive: its veth end x0 still exists"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!handle.watched().contains(&b_id));
    drop(handle);
}
