//! A bounded set of namespace threads shared by many namespaces.
//!
//! One thread per namespace does not scale: reading 200 namespaces made 400 threads
//! (`run_in` inside a reader thread each) and ran them four at a time, each group waiting for
//! its slowest member. [`for_each_in`] starts at most `threads` OS threads for the whole call;
//! each takes the next namespace from a shared queue, enters it with `setns` and runs the job
//! there, then goes on to the next one, so a thread is reused for many namespaces. The threads
//! are this module's own (never a tokio worker) and end with the call.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{enter, open_ns_file, NetnsError};

/// How many namespace threads a many-namespace read uses: enough to overlap the kernel's
/// answers with parsing on every core, few enough that 200 namespaces do not mean 200
/// threads.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .clamp(2, 8)
}

/// One namespace to run a job in: a label for errors and the namespace file's path.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub label: &'a str,
    pub path: &'a Path,
}

/// Run `job(i)` inside namespace `targets[i]` for every `i`, on at most `threads` threads
/// (at least one), and return the results in the order of `targets`. A namespace that cannot
/// be opened or entered, or a job that panics, gives an error for that entry only.
pub fn for_each_in<T, F>(
    threads: usize,
    targets: &[Target<'_>],
    job: F,
) -> Vec<Result<T, NetnsError>>
where
    T: Send,
    F: Fn(usize) -> T + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<T, NetnsError>>>> =
        Mutex::new((0..targets.len()).map(|_| None).collect());
    let workers = threads.max(1).min(targets.len());
    let spawned = std::thread::scope(|s| {
        let mut spawned = Ok(());
        for _ in 0..workers {
            let worker = std::thread::Builder::new()
                .name("netns:pool".to_string())
                .spawn_scoped(s, || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(target) = targets.get(i) else { break };
                    let got = run_one(target, || job(i));
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(got);
                    }
                });
            if let Err(e) = worker {
                // Fewer threads than asked still finish the queue; none at all is an error
                // for every entry (below).
                spawned = Err(e);
                break;
            }
        }
        spawned
    });
    let spawn_error = spawned.err();
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results
        .into_iter()
        .map(|r| match r {
            Some(r) => r,
            None => Err(NetnsError::Spawn(match &spawn_error {
                Some(e) => std::io::Error::new(e.kind(), e.to_string()),
                None => std::io::Error::other("no namespace thread ran this entry"),
            })),
        })
        .collect()
}

fn run_one<T>(target: &Target<'_>, job: impl FnOnce() -> T) -> Result<T, NetnsError> {
    let file = open_ns_file(target.path)?;
    enter(&file, target.label)?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
        .map_err(|_| NetnsError::ThreadPanicked(target.label.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    /// The test's own namespace: entering it needs no privilege (`enter` skips `setns` when
    /// the thread is already there), so the pool's scheduling is tested without root.
    fn own_namespace() -> PathBuf {
        PathBuf::from("/proc/self/ns/net")
    }

    #[test]
    fn never_more_threads_at_once_than_its_size_and_threads_are_reused() {
        let path = own_namespace();
        let labels: Vec<String> = (0..60).map(|i| format!("ns{i}")).collect();
        let targets: Vec<Target> = labels
            .iter()
            .map(|l| Target {
                label: l,
                path: &path,
            })
            .collect();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let threads = Mutex::new(HashSet::new());
        let got = for_each_in(3, &targets, |i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            threads.lock().unwrap().insert(std::thread::current().id());
            // Give the other workers a chance to overlap with this one.
            std::thread::yield_now();
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(got.len(), 60);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(
                *r.as_ref().unwrap(),
                i * 2,
                "results keep the order of targets"
            );
        }
        assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 jobs at once");
        let distinct = threads.lock().unwrap().len();
        assert!(
            (1..=3).contains(&distinct),
            "60 namespaces ran on {distinct} threads, not one each"
        );
        assert!(
            !threads
                .lock()
                .unwrap()
                .contains(&std::thread::current().id()),
            "never on the caller's thread"
        );
    }

    #[test]
    fn a_missing_namespace_or_a_panic_fails_only_its_entry() {
        let path = own_namespace();
        let missing = PathBuf::from("/run/netns/netview-pool-test-does-not-exist");
        let targets = [
            Target {
                label: "a",
                path: &path,
            },
            Target {
                label: "gone",
                path: &missing,
            },
            Target {
                label: "boom",
                path: &path,
            },
            Target {
                label: "d",
                path: &path,
            },
        ];
        let got = for_each_in(2, &targets, |i| {
            if i == 2 {
                panic!("job panicked");
            }
            i
        });
        assert_eq!(*got[0].as_ref().unwrap(), 0);
        assert!(matches!(got[1], Err(NetnsError::Open { .. })));
        assert!(matches!(got[2], Err(NetnsError::ThreadPanicked(ref l)) if l == "boom"));
        assert_eq!(*got[3].as_ref().unwrap(), 3);
    }

    #[test]
    fn no_targets_start_no_thread() {
        let got: Vec<Result<(), _>> = for_each_in(4, &[], |_| panic!("no job to run"));
        assert!(got.is_empty());
    }

    #[test]
    fn default_size_is_bounded() {
        assert!((2..=8).contains(&default_threads()));
    }
}
