//! The dashboard's pages, one per file.

mod dashboard;
mod instances;
mod login;
mod session_detail;
mod sessions;
mod settings;
mod webhooks;

pub use dashboard::DashboardPage;
pub use instances::InstancesPage;
pub use login::{LoginPage, SetupPage};
pub use session_detail::SessionDetailPage;
pub use sessions::SessionsPage;
pub use settings::SettingsPage;
pub use webhooks::WebhooksPage;
