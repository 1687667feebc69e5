//! The engine's interrupt request (`lab::request_interrupt`) is process-wide and sticky; the
//! TUI goes on after a cancelled job, so `lab::clear_interrupt` must let the next creation
//! run. On the in-memory kernel (`FakeOps`), no root needed. Its own test binary: the flag is
//! global, and no other test may see it set.

use netview::lab::fake::FakeOps;
use netview::lab::spec::LabSpec;
use netview::lab::{self, Engine, LabError};

#[test]
fn a_cleared_interrupt_lets_the_next_creation_run() {
    let dir = tempfile::tempdir().expect("state dir");
    let mut ops = FakeOps::new();
    lab::request_interrupt();
    {
        let mut e = Engine::new(&mut ops, dir.path().to_path_buf(), "nv-i-".into());
        let r = e.up(LabSpec::default());
        assert!(matches!(r, Err(LabError::Interrupted)), "{r:?}");
        // Still set: a second creation stops too until someone clears it.
        let r = e.up(LabSpec::default());
        assert!(matches!(r, Err(LabError::Interrupted)), "{r:?}");
    }
    assert!(ops.netns.is_empty(), "an interrupted up makes nothing");
    lab::clear_interrupt();
    let mut e = Engine::new(&mut ops, dir.path().to_path_buf(), "nv-i-".into());
    e.up(LabSpec::default()).expect("the next up runs");
    assert!(dir.path().join("state.json").exists());
}
