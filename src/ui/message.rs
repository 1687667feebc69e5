//! What can happen to the TUI ([`Message`]: keys, the mouse, answers of the I/O) and the I/O
//! `update` asks for ([`Command`]), which the runtime ([`crate::ui::runtime`]) does on its
//! threads and answers with messages.

use std::time::Instant;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::containers::PlacedWorld;
use crate::inventory::watch::WatchEvent;
use crate::inventory::NamespaceInventory;
use crate::lab::state::LabState;
use crate::netns::Netns;
use crate::probe::cell::CellResult;
use crate::ui::labui::LabJob;

/// Everything that can happen to the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Key(KeyEvent),
    /// A click or a wheel notch, and when it came (two clicks on one matrix cell within
    /// [`crate::ui::mouse::DOUBLE_CLICK`] are a double click).
    Mouse {
        event: MouseEvent,
        at: Instant,
    },
    Resize {
        width: u16,
        height: u16,
    },
    /// From the watcher: something changed in a namespace, or the namespace set changed.
    Watch(WatchEvent),
    /// The result of [`Command::ListNamespaces`].
    NamespacesListed(Vec<Netns>),
    /// The result of [`Command::ReadNamespace`], keyed by the namespace's inode.
    NamespaceRead {
        id: u64,
        result: Result<NamespaceInventory, String>,
    },
    /// What the container runtimes answered, placed on namespaces
    /// ([`Command::FollowContainers`]; again after every runtime event).
    ContainersRead(Box<PlacedWorld>),
    /// SIGTERM, SIGINT or SIGHUP: stop a running job (rolled back), tear down what this
    /// session made and leave.
    Terminate,
    /// The lab's state as (re)read: None when no lab is up.
    LabLoaded(Result<Option<Box<LabState>>, String>),
    /// A [`Command::Lab`] job finished.
    LabJobDone {
        job: LabJob,
        result: Result<(), String>,
    },
    /// Whether this kernel has ipvlan ([`Command::CheckIpvlan`]).
    IpvlanSupport(bool),
    /// The probe run is paced (before its first result): batches to fit the kernel's
    /// neighbour table.
    ProbesPaced(crate::probe::matrix::Pacing),
    /// One probe result, as it arrives.
    ProbeCell(CellResult),
    /// The probe run ended (its time in ms, or why it failed).
    ProbesDone(Result<u64, String>),
    /// The host-mode shared-port demonstration, in one line.
    SharedPort(Result<String, String>),
    /// The spinner's clock while a job runs.
    Tick,
    /// Where [`Command::Export`] wrote the file, or why it could not.
    Exported(Result<std::path::PathBuf, String>),
}

/// I/O for the runtime to do. None of it happens inside `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// List every namespace (answer: [`Message::NamespacesListed`]).
    ListNamespaces,
    /// Read one namespace on a background thread (answer: [`Message::NamespaceRead`]);
    /// `all` is the current namespace list, to resolve peers in other namespaces.
    ReadNamespace {
        netns: Netns,
        all: Vec<Netns>,
        priority: ReadPriority,
    },
    /// The namespace with this inode is now on screen: if its read is still queued, move it
    /// to the front.
    Prioritise(u64),
    /// Start the watcher on this set of namespaces (once: it keeps watching namespaces that
    /// appear later and drops those that vanish).
    Watch(Vec<Netns>),
    /// Ask the container runtimes now and after each of their events (answers:
    /// [`Message::ContainersRead`]).
    FollowContainers,
    /// Read the lab's state (answer: [`Message::LabLoaded`]).
    LoadLab,
    /// Watch the lab's state file; every change is a [`Message::LabLoaded`].
    WatchLab,
    /// Change the lab through the engine (answer: [`Message::LabJobDone`], ticks meanwhile).
    Lab(LabJob),
    /// Ask the running lab job to stop at its next kernel step and roll back everything it
    /// made (its [`Message::LabJobDone`] then carries the engine's "interrupted").
    CancelJob,
    /// Ask the kernel whether it has ipvlan (answer: [`Message::IpvlanSupport`]).
    CheckIpvlan,
    /// Probe these cells, planned by `update`, predicting over the inventory it holds
    /// (answers: [`Message::ProbeCell`]s, then [`Message::ProbesDone`]).
    RunProbes(Box<crate::ui::bench::ProbeJob>),
    /// Show that this host-mode container shares the host's port 80.
    SharedPort(Box<LabState>, String),
    /// Write the current tab, rendered by `update`, to a new private file (answer:
    /// [`Message::Exported`]).
    Export(Box<crate::ui::export::Export>),
    Quit,
}

/// Which reads go first when many are queued (a busy host has many namespaces, and other
/// tools keep changing theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReadPriority {
    /// The namespace on screen: before everything else.
    OnScreen,
    /// A change the watcher saw: after the one on screen, in the order they came.
    Changed,
    /// Start-up, refresh, new namespaces: last.
    Background,
}

/// Whether a message can change what is on screen (a watcher event only starts a read; the
/// screen changes when the read lands).
pub fn changes_screen(msg: &Message) -> bool {
    !matches!(msg, Message::Watch(_))
}
