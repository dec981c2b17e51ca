//! Where the dashboard's built files are: the Leptos options of this process.

use leptos::config::{LeptosOptions, errors::LeptosConfigError, get_configuration};

/// The site settings cargo-leptos exported when it built (and, for `make run`, started)
/// this binary; one definition of them lives in the workspace's Cargo.toml.
pub fn options() -> Result<LeptosOptions, LeptosConfigError> {
    let name_known = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some()
        || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    if name_known {
        return get_configuration(None).map(|conf| conf.leptos_options);
    }
    // A plain `cargo build` produces a working server whose pages cannot hydrate; say so
    // once instead of serving a silently dead dashboard.
    tracing::warn!(
        "this binary was not built by cargo-leptos: the dashboard is served without its \
         scripts and styles (build with `make run`)"
    );
    // The builder's default site root is ".", which would serve the working directory
    // (and the database in it); keep cargo-leptos's default instead.
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    Ok(LeptosOptions::builder().output_name("").site_root(site_root).build())
}
