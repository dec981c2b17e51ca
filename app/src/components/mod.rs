//! Reusable pieces of the dashboard.

mod layout;
mod status_badge;
mod status_dot;

pub use layout::Layout;
pub use status_badge::StatusBadge;
pub use status_dot::StatusDot;
