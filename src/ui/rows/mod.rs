//! The rows of the inventory tabs (Links to Filter), built from one namespace's inventory
//! as plain text cells: no drawing here. `update` filters them and the table in
//! [`crate::ui::render::table`] draws them.

pub mod addresses;
pub mod bridges;
pub mod filter;
pub mod links;
pub mod nat;
pub mod neighbours;
pub mod routes;
