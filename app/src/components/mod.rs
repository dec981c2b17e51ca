//! Reusable pieces of the dashboard.

pub mod format;
mod layout;
mod qr;
mod reconnect;
mod refresh;
mod status_badge;
mod status_dot;
mod status_popover;
mod table_head;

pub use layout::Layout;
pub use qr::QrImage;
#[cfg(feature = "ssr")]
pub use qr::qr_svg;
pub use reconnect::ReconnectControl;
pub use refresh::ticks_while_visible;
pub use status_badge::StatusBadge;
pub use status_dot::StatusDot;
pub use status_popover::StatusPopover;
pub use table_head::TableHead;
