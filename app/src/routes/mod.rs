//! The dashboard's pages, one per file.

mod chunks;
mod dashboard;
mod instances;
mod login;
mod session_detail;
mod sessions;
mod settings;
mod webhooks;

pub use chunks::{
    InstancesRoute, LoginRoute, SPLIT_MANIFEST_META, SessionDetailRoute, SessionsRoute,
    SettingsRoute, SetupRoute, WebhooksRoute, frame_chunks, prefetch_when_idle,
};
pub use dashboard::DashboardPage;
pub use instances::InstancesPage;
pub use login::{LoginPage, SetupPage};
pub use session_detail::SessionDetailPage;
pub use sessions::SessionsPage;
pub use settings::SettingsPage;
pub use webhooks::WebhooksPage;
