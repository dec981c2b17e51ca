//! Where the dashboard's built files are: the Leptos options of this process.

use std::path::{Path, PathBuf};

use leptos::config::{LeptosOptions, errors::LeptosConfigError, get_configuration};

/// The name of the file in which the build lists the hashes in the site's file names.
/// cargo-leptos writes it beside the server binary; `make build` copies it into the site
/// folder, so a binary installed elsewhere (a service's `/usr/local/bin`) finds it with the
/// files it describes.
pub const HASH_FILE: &str = "hash.txt";

/// The site settings cargo-leptos exported when it built (and, for `make run`, started)
/// this binary; one definition of them lives in the workspace's Cargo.toml.
pub fn options() -> Result<LeptosOptions, LeptosConfigError> {
    let name_known = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some()
        || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    if name_known {
        let mut options = get_configuration(None)?.leptos_options;
        // cargo-leptos exports LEPTOS_HASH_FILES only to the processes it starts; `make
        // run` and a service start the binary themselves. The hash file of the build says
        // the site's file names carry hashes, and which.
        let site_copy = std::path::absolute(Path::new(&*options.site_root).join(HASH_FILE))
            .unwrap_or_else(|_| Path::new(&*options.site_root).join(HASH_FILE));
        if let Some(found) = hash_file([Some(site_copy), app::hash_file(&options)]) {
            // Absolute: Leptos joins the name to the binary's folder, which keeps it whole.
            options.hash_file = found.to_string_lossy().into();
            options.hash_files = true;
        }
        return Ok(options);
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

/// The first of `candidates` that exists: the site folder's copy first (it travels with the
/// files), then the one beside the binary (a build that `make build` did not copy, such as
/// `cargo leptos end-to-end`'s, which empties the site folder first).
fn hash_file(candidates: [Option<PathBuf>; 2]) -> Option<PathBuf> {
    candidates.into_iter().flatten().find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_folder_copy_wins_and_a_missing_file_is_no_hash_file() {
        let dir = tempfile::tempdir().unwrap();
        let (site, binary) = (dir.path().join("site.txt"), dir.path().join("binary.txt"));
        assert_eq!(hash_file([Some(site.clone()), Some(binary.clone())]), None);
        std::fs::write(&binary, "js: x\n").unwrap();
        assert_eq!(hash_file([Some(site.clone()), Some(binary.clone())]), Some(binary.clone()));
        std::fs::write(&site, "js: x\n").unwrap();
        assert_eq!(hash_file([Some(site.clone()), Some(binary)]), Some(site.clone()));
        assert_eq!(hash_file([None, Some(site.clone())]), Some(site));
    }
}
