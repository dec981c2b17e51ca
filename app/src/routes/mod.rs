//! The dashboard's pages, one per file.

mod dashboard;
mod sessions;
mod settings;

pub use dashboard::DashboardPage;
pub use sessions::SessionsPage;
pub use settings::SettingsPage;
