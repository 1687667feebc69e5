//! The terminal UI. Model / Message / update / view, as in trippy and gitui:
//! - [`app`]: the state and `update` (no I/O; it returns commands);
//! - [`message`]: what can happen ([`message::Message`]) and the I/O asked for
//!   ([`message::Command`]);
//! - [`runtime`]: the terminal, the event loop, and the threads that do the I/O;
//! - [`render`]: pure drawing functions, one file per screen region;
//! - [`rows`]: the inventory tabs' rows, as text;
//! - [`keys`]: every key binding (the help overlay is generated from it);
//! - [`theme`]: colours and marks (NO_COLOR honoured);
//! - [`topology`]: the connection drawing, a pure function of the inventory.

pub mod app;
pub mod bench;
pub mod export;
#[cfg(any(test, feature = "test-support"))]
pub mod fixture;
pub mod form;
pub mod keys;
pub mod labtopo;
pub mod labui;
pub mod matrix_view;
pub mod message;
pub mod mouse;
pub mod render;
pub mod rows;
pub mod runtime;
pub mod screen;
pub mod table;
pub mod theme;
pub mod topology;
pub mod tour;

#[cfg(test)]
mod render_tests;

#[cfg(test)]
mod bench_render_tests;

#[cfg(test)]
mod config_render_tests;

#[cfg(test)]
mod mouse_tests;
