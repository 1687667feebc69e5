//! The TUI's state ([`Model`]) and [`update`], which changes it on a [`Message`] and says
//! what I/O to do next ([`Command`]) without doing any itself (both in
//! [`crate::ui::message`]). The runtime ([`crate::ui::runtime`]) executes commands and feeds
//! their results back as messages; rendering ([`crate::ui::render`]) only reads the model.

use std::collections::BTreeSet;

use std::time::Instant;

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::caps::Capability;
use crate::config::ProbeDefaults;
use crate::containers::{Container, PlacedWorld, Runtime};
use crate::inventory::watch::WatchEvent;
use crate::inventory::NamespaceInventory;
use crate::netns::{Netns, NetnsSource};
use crate::ui::keys::{Action, FilterAction, KeyMap};
use crate::ui::labui::{Bench, BenchMsg, Context as BenchContext};
// Where code written before the move looks for them.
pub use crate::ui::message::{changes_screen, Command, Message, ReadPriority};
use crate::ui::table::{TabTable, TableRow};
use crate::ui::theme::Theme;
use crate::ui::topology::topology;

/// The tabs on the right, in key order (1-9, then 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Links,
    Addresses,
    Routes,
    Neighbours,
    Bridges,
    Nat,
    /// The filter chains (forward, input, output) with their policies.
    Filter,
    Topology,
    /// The probe matrix (lab bench).
    Matrix,
    /// The picture of the lab, with the selected cell's path.
    Lab,
}

impl Tab {
    pub const ALL: [Tab; 10] = [
        Tab::Links,
        Tab::Addresses,
        Tab::Routes,
        Tab::Neighbours,
        Tab::Bridges,
        Tab::Nat,
        Tab::Filter,
        Tab::Topology,
        Tab::Matrix,
        Tab::Lab,
    ];

    /// Tabs drawn from every namespace (or the lab), not from the selected one.
    pub fn is_global(self) -> bool {
        matches!(self, Tab::Topology | Tab::Matrix | Tab::Lab)
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Links => "Links",
            Tab::Addresses => "Addresses",
            Tab::Routes => "Routes",
            Tab::Neighbours => "Neighbours",
            Tab::Bridges => "Bridges",
            Tab::Nat => "NAT",
            Tab::Filter => "Filter",
            Tab::Topology => "Topology",
            Tab::Matrix => "Matrix",
            Tab::Lab => "Lab",
        }
    }

    /// A shorter title for narrow terminals: all ten fit the table pane of a 100-column
    /// terminal (71 columns; the short bar is 69).
    pub fn short_title(self) -> &'static str {
        match self {
            Tab::Addresses => "Addr",
            Tab::Routes => "Rte",
            Tab::Neighbours => "Neigh",
            Tab::Bridges => "Brdg",
            Tab::Filter => "Filt",
            Tab::Topology => "Topo",
            Tab::Matrix => "Mtx",
            other => other.title(),
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The number key that selects the tab: 1-9, and 0 for the tenth.
    pub fn key(self) -> usize {
        (self.index() + 1) % 10
    }
}

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Namespaces,
    Table,
}

/// One namespace as the UI knows it: where it is, and what was last read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct NsEntry {
    pub netns: Netns,
    pub inventory: Option<NamespaceInventory>,
    /// Why the last read failed (for example, no permission to enter it).
    pub error: Option<String>,
    /// The containers living in it (from the runtimes; also copied into `inventory`).
    pub containers: Vec<Container>,
}

impl NsEntry {
    pub fn new(netns: Netns) -> Self {
        NsEntry {
            netns,
            inventory: None,
            error: None,
            containers: Vec::new(),
        }
    }

    /// `web (docker)`, or `web, db (docker)`, for a namespace of containers. None for the
    /// root namespace: its host-mode containers share the host's stack, and it stays `root`.
    pub fn container_label(&self) -> Option<String> {
        if self.netns.source == NetnsSource::Root {
            return None;
        }
        self.containers_text()
    }

    /// The containers' names and runtime, whatever the namespace.
    pub fn containers_text(&self) -> Option<String> {
        let first = self.containers.first()?;
        let names: Vec<&str> = self.containers.iter().map(|c| c.name.as_str()).collect();
        Some(format!("{} ({})", names.join(", "), first.runtime))
    }

    pub fn source_label(&self) -> &'static str {
        match self.netns.source {
            NetnsSource::Root => "root",
            NetnsSource::Named => "named",
            NetnsSource::Process => "process",
        }
    }

    /// Whether netview made this namespace (known once it has been read).
    pub fn is_netview(&self) -> bool {
        self.inventory.as_ref().is_some_and(|i| i.netview)
    }

    /// Whether the namespace's name, its process label, or one of its containers' names, ids,
    /// images or networks matches (then all its rows show).
    fn label_matches(&self, needle: &str) -> bool {
        let containers = self.containers.iter().flat_map(|c| {
            [c.name.as_str(), c.id.as_str(), c.image.as_str()]
                .into_iter()
                .chain(c.networks.iter().map(String::as_str))
        });
        [
            Some(self.netns.name.as_str()),
            self.netns.process.as_deref(),
        ]
        .into_iter()
        .flatten()
        .chain(containers)
        .any(|s| s.to_lowercase().contains(needle))
    }

    /// Whether any peer or parent points at a namespace that was not known when it was read;
    /// a new namespace list may resolve it.
    fn has_unresolved_refs(&self) -> bool {
        self.inventory.as_ref().is_some_and(|inv| {
            inv.links.iter().any(|l| {
                [&l.peer, &l.parent]
                    .into_iter()
                    .flatten()
                    .any(|r| r.netns.is_none())
            })
        })
    }
}

/// The whole UI state.
#[derive(Debug, Clone)]
pub struct Model {
    pub namespaces: Vec<NsEntry>,
    /// The selected namespace, by inode, so it survives re-listing.
    pub selected: Option<u64>,
    /// Namespaces marked with Space for `p` to probe among, by inode.
    pub marked: std::collections::BTreeSet<u64>,
    pub tab: Tab,
    pub focus: Pane,
    /// Cursor in the current tab's (filtered) rows.
    pub row: usize,
    pub filter: String,
    /// Whether keys are typed into the filter.
    pub filter_editing: bool,
    pub help: bool,
    /// The first line of the help overlay in view (it scrolls).
    pub help_scroll: usize,
    /// The key map in use (the built-in table with the config's remaps).
    pub keys: KeyMap,
    /// What `p` probes with (the config's `[probe]`).
    pub probe: ProbeDefaults,
    /// The lab `L` builds: the config's lab file, or `None` for the built-in lab.
    pub lab_spec: Option<crate::lab::LabSpec>,
    pub missing_caps: Vec<Capability>,
    /// The command that gives the binary the capabilities it lacks (None: unknown).
    pub setcap: Option<String>,
    /// The start-up screen that names the missing capabilities; any key closes it.
    pub privileges_screen: bool,
    pub theme: Theme,
    /// A one-line note for the status bar (the last error, for example).
    pub message: Option<String>,
    /// Rows a page key moves by (follows the terminal height).
    pub page_rows: usize,
    /// The terminal's size, as last reported (the matrix's scrolling and the mouse need it).
    pub screen: Rect,
    pub quit: bool,
    /// The lab bench: the lab, dialogs, the matrix, the tour.
    pub bench: Bench,
    /// The last left click: when, and the matrix cell it hit (a second click there soon
    /// after is a double click).
    pub last_click: Option<(Instant, Option<(usize, usize)>)>,
    /// The container runtimes' containers and networks, as last answered.
    pub containers: PlacedWorld,
    /// Namespaces with a read in flight, and those that changed again meanwhile.
    reading: BTreeSet<u64>,
    reread: BTreeSet<u64>,
    listing: bool,
    relist: bool,
    /// Whether the watcher was started (it follows namespaces that appear later by itself).
    watching: bool,
    /// Derived from the above by [`Model::normalise`] after every message, with the inputs
    /// they were derived from.
    visible: Vec<usize>,
    view: TabView,
    visible_key: Option<(Tab, String, u64)>,
    view_key: Option<(Tab, Option<u64>, String, u64)>,
    /// Bumped whenever `namespaces` or an inventory changes.
    generation: u64,
}

/// What the current tab shows: header, the rows left after filtering, and how many there
/// were before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabView {
    pub header: &'static [&'static str],
    pub drop_order: &'static [usize],
    pub group_column: Option<usize>,
    pub rows: Vec<TableRow>,
    pub total: usize,
    /// The Topology tab: per row, the devices it draws as (namespace, device), so the
    /// selected matrix cell's path can light them. Empty on the other tabs.
    pub devices: Vec<Vec<(String, String)>>,
}

impl Model {
    pub fn new(missing_caps: Vec<Capability>, theme: Theme) -> Self {
        Model {
            namespaces: Vec::new(),
            selected: None,
            marked: Default::default(),
            tab: Tab::Links,
            focus: Pane::Namespaces,
            row: 0,
            filter: String::new(),
            filter_editing: false,
            help: false,
            help_scroll: 0,
            keys: KeyMap::default(),
            probe: ProbeDefaults::default(),
            lab_spec: None,
            missing_caps,
            setcap: None,
            privileges_screen: false,
            theme,
            message: None,
            page_rows: 20,
            screen: Rect::new(0, 0, 80, 24),
            quit: false,
            bench: Bench::default(),
            last_click: None,
            containers: PlacedWorld::default(),
            reading: BTreeSet::new(),
            reread: BTreeSet::new(),
            listing: false,
            relist: false,
            watching: false,
            visible: Vec::new(),
            visible_key: None,
            view_key: None,
            generation: 0,
            view: TabView {
                header: &[],
                drop_order: &[],
                group_column: None,
                rows: Vec::new(),
                total: 0,
                devices: Vec::new(),
            },
        }
    }

    /// A model that already holds these inventories, as if start-up had finished (every
    /// read done, the watcher running), for tests and snapshots. The first namespace is
    /// selected.
    pub fn from_inventories(
        entries: Vec<(Netns, Result<NamespaceInventory, String>)>,
        missing_caps: Vec<Capability>,
        theme: Theme,
    ) -> Self {
        let mut m = Model::new(missing_caps, theme);
        m.namespaces = entries
            .into_iter()
            .map(|(netns, r)| {
                let mut e = NsEntry::new(netns);
                match r {
                    Ok(inv) => e.inventory = Some(inv),
                    Err(err) => e.error = Some(err),
                }
                e
            })
            .collect();
        m.selected = m.namespaces.first().map(|e| e.netns.id);
        m.watching = true;
        m.normalise();
        m
    }

    /// The commands to run when the UI starts.
    pub fn start(&mut self) -> Vec<Command> {
        self.listing = true;
        vec![
            Command::ListNamespaces,
            Command::LoadLab,
            Command::WatchLab,
            Command::FollowContainers,
        ]
    }

    /// Mark the namespaces the lab's state records as netview's, as the CLI marks them
    /// ([`crate::inventory::mark_made_by`]): a read from the kernel never carries the mark,
    /// and the lab may be loaded before or after a namespace is read. Without a lab loaded
    /// the marks stay as they are.
    fn mark_own_namespaces(&mut self) {
        let Some(lab) = &self.bench.lab else {
            return;
        };
        let ours = crate::inventory::lab_namespaces(lab);
        for inv in self
            .namespaces
            .iter_mut()
            .filter_map(|e| e.inventory.as_mut())
        {
            inv.netview = ours.contains(&inv.name);
        }
    }

    pub fn is_reading(&self, id: u64) -> bool {
        self.reading.contains(&id)
    }

    fn needle(&self) -> String {
        self.filter.to_lowercase()
    }

    pub fn entry(&self, id: u64) -> Option<&NsEntry> {
        self.namespaces.iter().find(|e| e.netns.id == id)
    }

    fn entry_mut(&mut self, id: u64) -> Option<&mut NsEntry> {
        self.namespaces.iter_mut().find(|e| e.netns.id == id)
    }

    /// The rows of `tab` for one namespace, unfiltered. The root namespace's Bridges tab ends
    /// with the runtimes' networks.
    fn tab_rows(&self, tab: Tab, inv: &NamespaceInventory) -> TabTable {
        use crate::ui::rows;
        match tab {
            Tab::Bridges if inv.source == NetnsSource::Root => {
                let mut t = rows::bridges::table(inv);
                t.rows
                    .extend(rows::bridges::network_rows(&self.containers.world));
                t
            }
            Tab::Links => rows::links::table(inv),
            Tab::Addresses => rows::addresses::table(inv),
            Tab::Routes => rows::routes::table(inv),
            Tab::Neighbours => rows::neighbours::table(inv),
            Tab::Bridges => rows::bridges::table(inv),
            Tab::Nat => rows::nat::table(inv),
            Tab::Filter => rows::filter::table(inv),
            Tab::Topology | Tab::Matrix | Tab::Lab => TabTable {
                header: &[],
                rows: Vec::new(),
                drop_order: &[],
                group_column: None,
            },
        }
    }

    fn compute_visible(&self) -> Vec<usize> {
        let needle = self.needle();
        self.namespaces
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                needle.is_empty()
                    || e.label_matches(&needle)
                    || (!self.tab.is_global()
                        && e.inventory.as_ref().is_some_and(|inv| {
                            self.tab_rows(self.tab, inv)
                                .rows
                                .iter()
                                .any(|r| r.matches(&needle))
                        }))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The selected namespace among the visible ones (the first visible if the stored
    /// selection is filtered out).
    pub fn selected_entry(&self) -> Option<&NsEntry> {
        self.visible
            .iter()
            .map(|&i| &self.namespaces[i])
            .find(|e| Some(e.netns.id) == self.selected)
            .or_else(|| self.visible.first().map(|&i| &self.namespaces[i]))
    }

    /// Every inventory read so far, in namespace order.
    pub fn inventories(&self) -> Vec<&NamespaceInventory> {
        self.namespaces
            .iter()
            .filter_map(|e| e.inventory.as_ref())
            .collect()
    }

    fn compute_view(&self) -> TabView {
        let needle = self.needle();
        if self.tab == Tab::Topology {
            let groups = topology(&self.inventories());
            let total = groups.iter().map(|g| g.lines.len()).sum();
            let (rows, devices) = groups
                .into_iter()
                .filter(|g| g.matches(&needle))
                .flat_map(|g| g.lines)
                .map(|l| {
                    let row = TableRow {
                        cells: vec![l.text],
                        detail: String::new(),
                    };
                    (row, l.devices)
                })
                .unzip();
            return TabView {
                header: &[],
                drop_order: &[],
                group_column: None,
                rows,
                total,
                devices,
            };
        }
        if self.tab.is_global() {
            return TabView {
                header: &[],
                drop_order: &[],
                group_column: None,
                rows: Vec::new(),
                total: 0,
                devices: Vec::new(),
            };
        }
        let empty = NamespaceInventory::empty("", 0, NetnsSource::Root);
        let entry = self.selected_entry();
        let table = self.tab_rows(
            self.tab,
            entry.and_then(|e| e.inventory.as_ref()).unwrap_or(&empty),
        );
        let total = table.rows.len();
        let keep_all = needle.is_empty() || entry.is_some_and(|e| e.label_matches(&needle));
        let rows = table
            .rows
            .into_iter()
            .filter(|r| keep_all || r.matches(&needle))
            .collect();
        TabView {
            header: table.header,
            drop_order: table.drop_order,
            group_column: table.group_column,
            rows,
            total,
            devices: Vec::new(),
        }
    }

    /// Keep the selection on a visible namespace and the cursor inside the rows.
    ///
    /// Also recomputes what the screen shows (the visible namespaces and the current tab's
    /// rows) once per message, so drawing and key handling only read it.
    /// Both are only rebuilt when what they depend on changed, so moving the cursor through
    /// a namespace with ten thousand links rebuilds nothing.
    pub fn normalise(&mut self) {
        let visible_key = (self.tab, self.filter.clone(), self.generation);
        if self.visible_key.as_ref() != Some(&visible_key) {
            self.visible = self.compute_visible();
            self.visible_key = Some(visible_key);
        }
        let effective = self.selected_entry().map(|e| e.netns.id);
        if effective.is_some() {
            self.selected = effective;
        }
        let view_key = (
            self.tab,
            self.selected,
            self.filter.clone(),
            self.generation,
        );
        if self.view_key.as_ref() != Some(&view_key) {
            self.view = self.compute_view();
            self.view_key = Some(view_key);
        }
        let n = self.view.rows.len();
        self.row = self.row.min(n.saturating_sub(1));
    }

    /// When a filter is accepted, go to a namespace whose name (or process) matches it,
    /// unless the selected one does: typing a name is how one looks a namespace up.
    fn select_named_match(&mut self) {
        let needle = self.needle();
        if needle.is_empty() {
            return;
        }
        let named = |e: &NsEntry| e.label_matches(&needle);
        if self.entry(self.selected.unwrap_or(0)).is_some_and(named) {
            return;
        }
        if let Some(&i) = self.visible.iter().find(|&&i| named(&self.namespaces[i])) {
            self.selected = Some(self.namespaces[i].netns.id);
            self.row = 0;
        }
    }

    /// Say that `namespaces` changed (done by `update` itself; for code that edits the model
    /// directly), so the next [`Model::normalise`] rebuilds what it derives from them.
    pub fn invalidate(&mut self) {
        self.generation += 1;
    }

    /// Indexes (into `namespaces`) of the namespaces the filter keeps: those whose name or
    /// process matches, and (except on Topology) those with a matching row in the current
    /// tab.
    pub fn visible_namespaces(&self) -> &[usize] {
        &self.visible
    }

    /// The current tab's rows after filtering. A namespace whose own name matches the filter
    /// shows all its rows. Topology is drawn from every namespace.
    pub fn current_view(&self) -> &TabView {
        &self.view
    }

    fn request_read(&mut self, id: u64, priority: ReadPriority) -> Option<Command> {
        let netns = self.entry(id)?.netns.clone();
        if self.reading.contains(&id) {
            // One read at a time per namespace; read once more when it lands.
            self.reread.insert(id);
            return None;
        }
        self.reading.insert(id);
        Some(Command::ReadNamespace {
            netns,
            all: self.namespaces.iter().map(|e| e.netns.clone()).collect(),
            priority: if self.selected == Some(id) {
                ReadPriority::OnScreen
            } else {
                priority
            },
        })
    }

    /// Read again the namespaces with these names (the lab changed them).
    pub fn reread_named(&mut self, names: &std::collections::BTreeSet<String>) -> Vec<Command> {
        let ids: Vec<u64> = self
            .namespaces
            .iter()
            .filter(|e| names.contains(&e.netns.name))
            .map(|e| e.netns.id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.request_read(id, ReadPriority::Changed))
            .collect()
    }

    fn request_list(&mut self) -> Vec<Command> {
        if self.listing {
            self.relist = true;
            Vec::new()
        } else {
            self.listing = true;
            vec![Command::ListNamespaces]
        }
    }

    pub(crate) fn move_namespace(&mut self, to: impl FnOnce(usize, usize) -> usize) {
        let visible = self.visible.clone();
        if visible.is_empty() {
            return;
        }
        let cur = visible
            .iter()
            .position(|&i| Some(self.namespaces[i].netns.id) == self.selected)
            .unwrap_or(0);
        let next = to(cur, visible.len()).min(visible.len() - 1);
        let id = self.namespaces[visible[next]].netns.id;
        if Some(id) != self.selected {
            self.selected = Some(id);
            self.row = 0;
        }
    }

    pub(crate) fn move_cursor(&mut self, to: impl FnOnce(usize, usize) -> usize) {
        match self.focus {
            Pane::Namespaces => self.move_namespace(to),
            Pane::Table => {
                let n = self.view.rows.len();
                if n > 0 {
                    self.row = to(self.row, n).min(n - 1);
                }
            }
        }
    }

    pub(crate) fn set_tab(&mut self, tab: Tab) {
        if tab != self.tab {
            self.tab = tab;
            self.row = 0;
        }
    }

    /// Hand a message to the lab bench and do what it asks of the rest of the UI.
    pub(crate) fn bench_update(&mut self, msg: BenchMsg) -> Vec<Command> {
        self.bench_handle(msg).1
    }

    /// [`Model::bench_update`], and whether the bench took the message.
    fn bench_handle(&mut self, msg: BenchMsg) -> (bool, Vec<Command>) {
        let selected_ns = self.selected_entry().map(|e| e.netns.name.clone());
        let cx = BenchContext {
            namespaces: &self.namespaces,
            marked: &self.marked,
            tab: self.tab,
            selected_ns: selected_ns.as_deref(),
            keys: &self.keys,
            probe: &self.probe,
            page_rows: self.page_rows,
        };
        let fx = self.bench.update(msg, &cx);
        if fx.note.is_some() {
            self.message = fx.note;
        }
        if fx.show_matrix {
            self.tab = Tab::Matrix;
        }
        if fx.quit {
            self.quit = true;
        }
        if fx.invalidate {
            self.invalidate();
        }
        let mut cmds = self.reread_named(&fx.reread);
        cmds.extend(fx.commands);
        (fx.handled, cmds)
    }

    /// Move the matrix's cursor.
    pub(crate) fn move_matrix(&mut self, rows: isize, cols: isize) -> Vec<Command> {
        self.bench_update(BenchMsg::Move { rows, cols })
    }

    pub(crate) fn apply(&mut self, action: Action) -> Vec<Command> {
        let page = self.page_rows.max(1);
        match action {
            Action::Quit => return self.bench_update(BenchMsg::Quit),
            Action::Interrupt => return self.bench_update(BenchMsg::Interrupt),
            Action::NewContainer => return self.bench_update(BenchMsg::NewContainer),
            Action::RemoveContainer => return self.bench_update(BenchMsg::RemoveContainer),
            Action::LabToggle => return self.bench_update(BenchMsg::ToggleLab),
            Action::Probe => return self.bench_update(BenchMsg::Probe),
            Action::Mark => {
                if let Some(id) = self.selected {
                    if !self.marked.remove(&id) {
                        self.marked.insert(id);
                    }
                }
            }
            Action::Tour => return self.bench_update(BenchMsg::Tour),
            Action::Open => {
                if self.tab == Tab::Matrix {
                    return self.bench_update(BenchMsg::Explain);
                }
                if self.tab == Tab::Bridges {
                    self.jump_to_container_row();
                }
            }
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::Export => {
                return vec![Command::Export(Box::new(crate::ui::export::of_tab(self)))];
            }
            // On the matrix the arrows move between cells.
            Action::Down if self.tab == Tab::Matrix => return self.move_matrix(1, 0),
            Action::Up if self.tab == Tab::Matrix => return self.move_matrix(-1, 0),
            Action::FocusTable if self.tab == Tab::Matrix => return self.move_matrix(0, 1),
            Action::FocusNamespaces if self.tab == Tab::Matrix => return self.move_matrix(0, -1),
            Action::Down => self.move_cursor(|c, _| c + 1),
            Action::Up => self.move_cursor(|c, _| c.saturating_sub(1)),
            Action::Top => self.move_cursor(|_, _| 0),
            Action::Bottom => self.move_cursor(|_, n| n.saturating_sub(1)),
            Action::PageDown => self.move_cursor(|c, _| c + page),
            Action::PageUp => self.move_cursor(|c, _| c.saturating_sub(page)),
            Action::FocusNext | Action::FocusPrev => {
                self.focus = match self.focus {
                    Pane::Namespaces => Pane::Table,
                    Pane::Table => Pane::Namespaces,
                }
            }
            Action::FocusNamespaces => self.focus = Pane::Namespaces,
            Action::FocusTable => self.focus = Pane::Table,
            Action::ScrollLeft | Action::ScrollRight if self.tab == Tab::Matrix => {
                let inner = crate::ui::screen::regions(self, self.screen).body_inner();
                let right = action == Action::ScrollRight;
                return self.bench_update(BenchMsg::ScrollColumns { right, inner });
            }
            Action::ScrollLeft | Action::ScrollRight => {}
            Action::NextTab => self.set_tab(Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()]),
            Action::PrevTab => {
                self.set_tab(Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()])
            }
            Action::GoTab(i) => {
                if let Some(t) = Tab::ALL.get(i) {
                    self.set_tab(*t)
                }
            }
            Action::StartFilter => self.filter_editing = true,
            Action::Clear => {
                self.filter.clear();
                self.message = None;
            }
            Action::Refresh => {
                let mut cmds = self.request_list();
                let ids: Vec<u64> = self.namespaces.iter().map(|e| e.netns.id).collect();
                cmds.extend(
                    ids.into_iter()
                        .filter_map(|id| self.request_read(id, ReadPriority::Background)),
                );
                return cmds;
            }
        }
        Vec::new()
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if self.privileges_screen {
            // Any key closes it; quitting keys also do what they say.
            self.privileges_screen = false;
            return match self.keys.action_for(&key) {
                Some(a @ (Action::Quit | Action::Interrupt)) => self.apply(a),
                _ => Vec::new(),
            };
        }
        if self.help {
            let action = self.keys.action_for(&key);
            if let Some(top) = action.and_then(|a| crate::ui::render::help::scrolled(self, a)) {
                self.help_scroll = top;
                return Vec::new();
            }
            match action {
                Some(Action::Help | Action::Clear) => self.help = false,
                Some(a @ (Action::Quit | Action::Interrupt)) => {
                    // Its question must have the keyboard, not the help.
                    self.help = false;
                    return self.apply(a);
                }
                _ => {}
            }
            return Vec::new();
        }
        if self.bench.overlay.is_some() {
            // The dialog has the keyboard.
            return self.bench_update(BenchMsg::Key(key));
        }
        if self.filter_editing {
            match self.keys.filter_input(&key) {
                Some(Ok(FilterAction::Accept)) => {
                    self.filter_editing = false;
                    self.select_named_match();
                }
                Some(Ok(FilterAction::Clear)) => {
                    self.filter.clear();
                    self.filter_editing = false;
                }
                Some(Ok(FilterAction::Backspace)) => {
                    self.filter.pop();
                }
                Some(Ok(FilterAction::Quit)) => return self.apply(Action::Interrupt),
                Some(Err(c)) => {
                    self.filter.push(c);
                    self.row = 0;
                }
                None => {}
            }
            return Vec::new();
        }
        if self.bench.tour.is_some() {
            let (handled, cmds) = self.bench_handle(BenchMsg::Key(key));
            if handled {
                return cmds;
            }
        }
        match self.keys.action_for(&key) {
            Some(a) => self.apply(a),
            None => Vec::new(),
        }
    }

    /// Enter on a network's container row (Bridges tab): select that container's namespace.
    fn jump_to_container_row(&mut self) {
        let Some(row) = self.view.rows.get(self.row) else {
            return;
        };
        let Some((runtime, name)) = crate::ui::rows::bridges::container_of_row(row) else {
            return;
        };
        let target = self.namespaces.iter().find(|e| {
            e.containers
                .iter()
                .any(|c| c.runtime == runtime && c.name == name)
        });
        match target {
            Some(e) => {
                self.selected = Some(e.netns.id);
                self.row = 0;
                self.focus = Pane::Table;
                self.tab = Tab::Links;
                // The filter would hide it if it does not match.
                if !self.filter.is_empty() && !e.label_matches(&self.needle()) {
                    self.filter.clear();
                }
            }
            None => {
                self.message = Some(format!(
                    "{name} ({runtime}) is not running, so it has no namespace"
                ))
            }
        }
    }

    /// New answers from the runtimes: each namespace gets its containers. A container whose
    /// namespace is not listed yet (just started: the watcher finds process-held namespaces
    /// only on its next scan of /proc) makes the list be read again now.
    fn on_containers_read(&mut self, placed: PlacedWorld) -> Vec<Command> {
        self.containers = placed;
        let unknown = self
            .containers
            .by_netns
            .keys()
            .any(|id| self.entry(*id).is_none());
        for e in &mut self.namespaces {
            e.containers = self.containers.on(e.netns.id);
            if let Some(inv) = &mut e.inventory {
                inv.containers = e.containers.clone();
            }
        }
        self.order_namespaces();
        self.invalidate();
        if unknown {
            self.request_list()
        } else {
            Vec::new()
        }
    }

    /// Order the list: root, then the namespaces of containers by container name, then the
    /// others as discovery gave them. A restarted container (a new pid, a new namespace) so
    /// keeps its place.
    fn order_namespaces(&mut self) {
        self.namespaces.sort_by_cached_key(|e| {
            let label = e.container_label();
            let group = match (e.netns.source, &label) {
                (NetnsSource::Root, _) => 0,
                (_, Some(_)) => 1,
                (_, None) => 2,
            };
            (group, label.unwrap_or_default())
        });
    }

    /// The runtimes that are installed but could not be asked, for the status bar.
    pub fn unreachable_runtimes(&self) -> Vec<String> {
        self.containers.world.unreachable()
    }

    /// How many containers of each runtime are known.
    pub fn container_counts(&self) -> Vec<(Runtime, usize)> {
        let mut out: Vec<(Runtime, usize)> = Vec::new();
        for c in &self.containers.world.containers {
            match out.iter_mut().find(|(r, _)| *r == c.runtime) {
                Some((_, n)) => *n += 1,
                None => out.push((c.runtime, 1)),
            }
        }
        out
    }

    fn on_namespaces_listed(&mut self, list: Vec<Netns>) -> Vec<Command> {
        let mut cmds = Vec::new();
        let before: BTreeSet<u64> = self.namespaces.iter().map(|e| e.netns.id).collect();
        let after: BTreeSet<u64> = list.iter().map(|n| n.id).collect();
        let mut old = std::mem::take(&mut self.namespaces);
        self.invalidate();
        self.namespaces = list
            .iter()
            .cloned()
            .map(
                |netns| match old.iter().position(|e| e.netns.id == netns.id) {
                    Some(i) => {
                        let mut e = old.swap_remove(i);
                        e.netns = netns;
                        e
                    }
                    None => NsEntry::new(netns),
                },
            )
            .map(|mut e| {
                e.containers = self.containers.on(e.netns.id);
                e
            })
            .collect();
        self.order_namespaces();
        if self.selected.is_none() || !after.contains(&self.selected.unwrap_or(0)) {
            self.selected = self
                .namespaces
                .iter()
                .find(|e| e.netns.is_self)
                .or(self.namespaces.first())
                .map(|e| e.netns.id);
        }
        if !self.watching {
            self.watching = true;
            cmds.push(Command::Watch(list));
        }
        if before != after {
            let to_read: Vec<u64> = self
                .namespaces
                .iter()
                .filter(|e| !before.contains(&e.netns.id) || e.has_unresolved_refs())
                .map(|e| e.netns.id)
                .collect();
            cmds.extend(
                to_read
                    .into_iter()
                    .filter_map(|id| self.request_read(id, ReadPriority::Background)),
            );
        }
        self.listing = false;
        if std::mem::take(&mut self.relist) {
            cmds.extend(self.request_list());
        }
        cmds
    }

    fn on_namespace_read(
        &mut self,
        id: u64,
        result: Result<NamespaceInventory, String>,
    ) -> Vec<Command> {
        self.reading.remove(&id);
        self.invalidate();
        let Some(entry) = self.entry_mut(id) else {
            // The namespace vanished while it was being read.
            self.reread.remove(&id);
            return Vec::new();
        };
        match result {
            Ok(mut inv) => {
                inv.containers = entry.containers.clone();
                entry.inventory = Some(inv);
                entry.error = None;
            }
            Err(e) => entry.error = Some(e),
        }
        if self.reread.remove(&id) {
            return self
                .request_read(id, ReadPriority::Changed)
                .into_iter()
                .collect();
        }
        Vec::new()
    }
}

/// Apply one message to the model; return the I/O the runtime must do next.
pub fn update(model: &mut Model, msg: Message) -> Vec<Command> {
    let selected_before = model.selected;
    let mut cmds = match msg {
        Message::Key(key) => model.on_key(key),
        Message::Mouse { event, at } => crate::ui::mouse::on_mouse(model, event, at),
        Message::Resize { width, height } => {
            // Borders, tab bar, header, detail and status take about 8 rows.
            model.page_rows = usize::from(height.saturating_sub(8)).max(1);
            model.screen = Rect::new(0, 0, width, height);
            Vec::new()
        }
        Message::Watch(WatchEvent::Changed(id)) => model
            .request_read(id, ReadPriority::Changed)
            .into_iter()
            .collect(),
        Message::Watch(WatchEvent::NamespacesChanged) => model.request_list(),
        Message::NamespacesListed(list) => model.on_namespaces_listed(list),
        Message::NamespaceRead { id, result } => {
            let mut cmds = model.on_namespace_read(id, result);
            // An open form checks its parent against what was just read.
            cmds.extend(model.bench_update(BenchMsg::Revalidate));
            cmds
        }
        Message::ContainersRead(placed) => model.on_containers_read(*placed),
        Message::Terminate => model.bench_update(BenchMsg::Terminate),
        Message::LabLoaded(r) => model.bench_update(BenchMsg::LabLoaded(r)),
        Message::LabJobDone { job, result } => {
            model.bench_update(BenchMsg::JobDone { job, result })
        }
        Message::IpvlanSupport(ok) => model.bench_update(BenchMsg::IpvlanSupport(ok)),
        Message::ProbesPaced(p) => model.bench_update(BenchMsg::ProbesPaced(p)),
        Message::ProbeCell(r) => model.bench_update(BenchMsg::ProbeCell(r)),
        Message::ProbesDone(r) => model.bench_update(BenchMsg::ProbesDone(r)),
        Message::SharedPort(r) => model.bench_update(BenchMsg::SharedPort(r)),
        Message::Tick => model.bench_update(BenchMsg::Tick),
        Message::Exported(r) => {
            model.message = Some(match r {
                Ok(path) => format!("{} written to {}", model.tab.title(), path.display()),
                Err(e) => format!("could not write the {} tab: {e}", model.tab.title()),
            });
            Vec::new()
        }
    };
    model.mark_own_namespaces();
    model.normalise();
    // A namespace just brought on screen whose first read is still queued goes first.
    if let Some(id) = model.selected.filter(|id| Some(*id) != selected_before) {
        let unread = model.entry(id).is_some_and(|e| e.inventory.is_none());
        if unread && model.reading.contains(&id) {
            cmds.push(Command::Prioritise(id));
        }
    }
    cmds
}
