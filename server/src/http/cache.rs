//! How long browsers and proxies may keep what the server sends.
//!
//! The release build names each dashboard file after a hash of its content
//! (`lifeline.<hash>.wasm`), and the page names the files it needs. So a file with a hash in
//! its name never changes and is kept for a year without asking again, while the page and
//! every file without a hash are asked for again on each use (an unchanged one costs a
//! `304 Not Modified`). A new release is therefore picked up on the next load, and a page
//! never combines the JavaScript of one release with the WebAssembly of another.

use axum::http::HeaderValue;

/// For a file whose name carries its content's hash.
pub const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// For pages and unhashed files: may be stored, but checked with the server before each use.
pub const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// The length of the content hash the build puts in file names: an MD5 digest in unpadded
/// base64url.
const HASH_LEN: usize = 22;

/// The cache policy of the site file at `path`.
pub fn for_file(path: &str) -> HeaderValue {
    if carries_content_hash(path) { IMMUTABLE } else { REVALIDATE }
}

/// Whether the last segment of `path` is `<name>.<hash>.<extension>` (and perhaps a
/// compression suffix after it). A hashed folder does not count: only the file's own name
/// says whether its bytes can change.
fn carries_content_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    // The part before the first dot is the name and the part after the last the extension;
    // a hash is in between.
    let Some((_, rest)) = name.split_once('.') else { return false };
    let Some((middle, _)) = rest.rsplit_once('.') else { return false };
    middle.split('.').any(|part| {
        part.len() == HASH_LEN
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            // The loader's name before the build hashes it is all underscores.
            && part.bytes().any(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_file_names_are_kept_for_a_year() {
        for path in [
            "/pkg/lifeline.Xq3kTmd1Tv-_0pQJ2mZpVw.wasm",
            "/pkg/lifeline.Xq3kTmd1Tv-_0pQJ2mZpVw.js",
            "/pkg/__wasm_split.Xq3kTmd1Tv-_0pQJ2mZpVw.js",
            "/pkg/__wasm_split_manifest.Xq3kTmd1Tv-_0pQJ2mZpVw.json",
            "/pkg/split_sessions_page_1234.Xq3kTmd1Tv-_0pQJ2mZpVw.wasm",
        ] {
            assert_eq!(for_file(path), IMMUTABLE, "{path}");
        }
    }

    #[test]
    fn anything_else_is_checked_before_each_use() {
        for path in [
            "/pkg/lifeline.wasm",
            "/pkg/lifeline.js",
            "/favicon.svg",
            // The wasm-split loader before the build names it: a placeholder, not a hash.
            "/pkg/__wasm_split.______________________.js",
            // Too short, or not base64url, to be the build's hash.
            "/pkg/lifeline.Xq3kTmd1Tv.wasm",
            "/pkg/lifeline.Xq3kTmd1Tv+_0pQJ2mZpVw.wasm",
            // A hash in a folder name says nothing of the file inside it.
            "/pkg/snippets/web-sys-Xq3kTmd1Tv-_0pQJ2mZpVw/inline0.js",
            "/pkg/Xq3kTmd1Tv-_0pQJ2mZpVw.wasm",
        ] {
            assert_eq!(for_file(path), REVALIDATE, "{path}");
        }
    }
}
