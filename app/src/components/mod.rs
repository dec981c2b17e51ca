//! Reusable pieces of the dashboard.

pub mod format;
mod layout;
mod qr;
mod reconnect;
mod status_badge;
mod status_dot;
mod status_popover;

pub use layout::Layout;
pub use qr::QrImage;
pub use reconnect::ReconnectControl;
pub use status_badge::StatusBadge;
pub use status_dot::StatusDot;
pub use status_popover::StatusPopover;
