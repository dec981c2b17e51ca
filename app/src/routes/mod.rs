//! The dashboard's pages, one per file.

mod dashboard;
mod login;
mod sessions;
mod settings;

pub use dashboard::DashboardPage;
pub use login::{LoginPage, SetupPage};
pub use sessions::SessionsPage;
pub use settings::SettingsPage;
