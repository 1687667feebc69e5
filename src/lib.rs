//! netview's engine: namespaces, the live inventory, the lab, and probes. Nothing here knows
//! about the terminal; the UI lives in [`ui`] and only reads from the engine.

pub mod caps;
pub mod config;
pub mod containers;
pub mod inventory;
pub mod lab;
pub mod logging;
pub mod netns;
pub mod probe;
pub mod programs;
pub mod ui;
