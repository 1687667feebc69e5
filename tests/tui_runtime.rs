//! The real event loop on a TestBackend with a fake inventory source: commands run on the
//! worker threads, results come back as messages, a watcher event re-reads exactly the
//! namespace it names, and the screen shows the new state. A terminal that stops taking
//! writes ends the loop as a signal does.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netview::inventory::watch::WatchEvent;
use netview::inventory::{InventoryError, InventorySource, LinkKind, NamespaceInventory};
use netview::netns::Netns;
use netview::ui::app::Model;
use netview::ui::fixture::{self, C1_ID, ROOT_ID};
use netview::ui::labui::{AfterJob, LabJob};
use netview::ui::message::Message;
use netview::ui::runtime::run_loop;
use netview::ui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

/// Serves the fixture; from the second read of nv-c1 on, nv-c1 has an extra veth.
#[derive(Default)]
struct FakeSource {
    reads: Mutex<HashMap<u64, usize>>,
}

impl FakeSource {
    fn reads_of(&self, id: u64) -> usize {
        self.reads.lock().unwrap().get(&id).copied().unwrap_or(0)
    }
}

impl InventorySource for FakeSource {
    fn namespaces(&self) -> Vec<Netns> {
        fixture::host().into_iter().map(|(n, _)| n).collect()
    }

    fn read(&self, ns: &Netns, all: &[Netns]) -> Result<NamespaceInventory, InventoryError> {
        assert_eq!(all.len(), 5, "readers get the whole namespace list");
        let n = {
            let mut reads = self.reads.lock().unwrap();
            let n = reads.entry(ns.id).or_default();
            *n += 1;
            *n
        };
        let (_, inv) = fixture::host()
            .into_iter()
            .find(|(n, _)| n.id == ns.id)
            .expect("fixture namespace");
        let mut inv = inv.map_err(InventoryError::Netlink)?;
        if ns.id == C1_ID && n >= 2 {
            inv.links
                .push(fixture::link(9, "vethlive0", LinkKind::Veth));
        }
        Ok(inv)
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn watcher_event_rereads_that_namespace_and_the_screen_shows_it() {
    let source = Arc::new(FakeSource::default());
    let (tx, rx) = mpsc::channel();
    let loop_tx = tx.clone();
    let loop_source: Arc<dyn InventorySource> = source.clone();
    let handle = std::thread::spawn(move || {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let model = Model::new(Vec::new(), Theme::default());
        let report = run_loop(&mut terminal, loop_source, loop_tx, &rx, model).unwrap();
        (report, terminal)
    });

    // Start-up: every namespace listed and read once.
    wait_until("the first reads", || {
        [ROOT_ID, C1_ID].iter().all(|&id| source.reads_of(id) == 1)
    });

    // Select nv-c1 (third in the list) so the screen shows its links.
    for _ in 0..2 {
        tx.send(Message::Key(KeyEvent::new(
            KeyCode::Char('j'),
            KeyModifiers::NONE,
        )))
        .unwrap();
    }
    tx.send(Message::Watch(WatchEvent::Changed(C1_ID))).unwrap();
    wait_until("the re-read of nv-c1", || source.reads_of(C1_ID) == 2);
    // Let the result travel back through the channel before quitting.
    std::thread::sleep(Duration::from_millis(100));
    tx.send(Message::Key(KeyEvent::new(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
    )))
    .unwrap();

    let (report, terminal) = handle.join().unwrap();
    assert_eq!(source.reads_of(C1_ID), 2, "nv-c1 read again once");
    assert_eq!(source.reads_of(ROOT_ID), 1, "root not read again");
    for (n, _) in fixture::host() {
        if n.id != C1_ID {
            assert_eq!(source.reads_of(n.id), 1, "{} read again", n.name);
        }
    }
    assert!(report.model.quit);
    let c1 = report.model.entry(C1_ID).unwrap();
    assert!(c1
        .inventory
        .as_ref()
        .unwrap()
        .link_by_name("vethlive0")
        .is_some());
    let screen = terminal.backend().to_string();
    assert!(screen.contains("vethlive0"), "{screen}");
    assert!(screen.contains("Links · nv-c1"), "{screen}");
    // A draw at start, then only after messages that change the screen: never a timer.
    assert!(
        report.draws >= 2 && report.draws <= 12,
        "{} draws",
        report.draws
    );
}

#[test]
fn the_loop_draws_nothing_while_nothing_happens() {
    let source: Arc<dyn InventorySource> = Arc::new(FakeSource::default());
    let (tx, rx) = mpsc::channel();
    let loop_tx = tx.clone();
    let handle = std::thread::spawn(move || {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let model = Model::new(Vec::new(), Theme::default());
        run_loop(&mut terminal, source, loop_tx, &rx, model).unwrap()
    });
    // Start-up: a list and five reads, each a message. Then silence for 300 ms.
    std::thread::sleep(Duration::from_millis(300));
    tx.send(Message::Key(KeyEvent::new(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
    )))
    .unwrap();
    let report = handle.join().unwrap();
    // At most: the first frame, one per start-up message (list, 5 reads, and the lab's
    // state twice: the start-up load and the lab watcher's first report; each is its own
    // frame when the loop is quick enough not to batch them, seen 9 under load). A redraw
    // loop on a timer would have drawn many more in 300 ms.
    assert!(report.draws <= 9, "{} draws", report.draws);
    assert_eq!(report.model.namespaces.len(), 5);
}

/// A TestBackend whose writes fail once `frames` frames are drawn, as a hung-up terminal's
/// do (EIO).
struct HungUp {
    inner: TestBackend,
    frames: usize,
}

impl HungUp {
    fn check(&mut self) -> std::io::Result<()> {
        if self.frames == 0 {
            return Err(std::io::Error::from_raw_os_error(nix::libc::EIO));
        }
        Ok(())
    }
}

/// TestBackend cannot fail; its results as this backend's.
fn io<T>(r: Result<T, std::convert::Infallible>) -> std::io::Result<T> {
    r.map_err(|never| match never {})
}

impl ratatui::backend::Backend for HungUp {
    type Error = std::io::Error;

    fn draw<'a, I>(&mut self, content: I) -> std::io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
    {
        self.check()?;
        io(self.inner.draw(content))
    }
    fn hide_cursor(&mut self) -> std::io::Result<()> {
        io(self.inner.hide_cursor())
    }
    fn show_cursor(&mut self) -> std::io::Result<()> {
        io(self.inner.show_cursor())
    }
    fn get_cursor_position(&mut self) -> std::io::Result<ratatui::layout::Position> {
        io(self.inner.get_cursor_position())
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        position: P,
    ) -> std::io::Result<()> {
        io(self.inner.set_cursor_position(position))
    }
    fn clear(&mut self) -> std::io::Result<()> {
        io(self.inner.clear())
    }
    fn clear_region(&mut self, t: ratatui::backend::ClearType) -> std::io::Result<()> {
        io(self.inner.clear_region(t))
    }
    fn size(&self) -> std::io::Result<ratatui::layout::Size> {
        io(self.inner.size())
    }
    fn window_size(&mut self) -> std::io::Result<ratatui::backend::WindowSize> {
        io(self.inner.window_size())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.check()?;
        self.frames -= 1;
        Ok(())
    }
}

#[test]
fn a_terminal_that_hangs_up_ends_the_loop_as_a_signal_would() {
    let source: Arc<dyn InventorySource> = Arc::new(FakeSource::default());
    let (tx, rx) = mpsc::channel();
    let mut model = Model::new(Vec::new(), Theme::default());
    // A lab job runs (never started here: the loop only has to ask it to stop).
    model.bench.job = Some(LabJob::Up);
    let mut terminal = Terminal::new(HungUp {
        inner: TestBackend::new(80, 24),
        frames: 1,
    })
    .unwrap();
    // The first frame is drawn; the next (after the namespace list) fails.
    let report = run_loop(&mut terminal, source, tx, &rx, model).unwrap();
    assert!(report.error.is_some(), "the failure is reported");
    let m = report.model;
    assert!(m.quit);
    assert!(m.bench.cancelling, "the running job was asked to stop");
    assert_eq!(m.bench.after_job, Some(AfterJob::TearDown));
}
