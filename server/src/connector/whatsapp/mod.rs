//! The real WhatsApp connector, on whatsapp-rust 0.7 (see DEVELOPERS.md and
//! docs/whatsapp-rust.md). So far: what its events mean to Lifeline.

pub mod mapping;
pub mod store;
