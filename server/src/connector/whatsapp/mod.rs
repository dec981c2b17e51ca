//! The real WhatsApp connector, on whatsapp-rust 0.7 (see DEVELOPERS.md and
//! docs/whatsapp-rust.md): what its events mean ([`mapping`]), where its keys live
//! ([`store`]), how an attempt runs ([`connector`]) and a live link ([`link`]).

pub mod connector;
pub mod link;
pub mod mapping;
mod observed;
pub mod rekey;
mod saver;
pub mod sealed_row;
pub mod store;

pub use connector::{Reach, WhatsApp};
