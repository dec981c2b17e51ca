//! Parsing and describing database URLs.

use std::{path::Path, str::FromStr};

use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
use thiserror::Error;

/// A database URL Lifeline can use, parsed.
#[derive(Clone, Debug)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (or `sqlite:PATH`).
    Sqlite(SqliteConnectOptions),
    /// `postgres://…` or `postgresql://…`.
    Postgres(PgConnectOptions),
}

/// A database URL that cannot be used, said without echoing any password in it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UrlError {
    /// Not a scheme Lifeline speaks.
    #[error(
        "database URL {shown:?} is not supported: use sqlite://PATH or postgres://USER@HOST/DATABASE"
    )]
    UnsupportedScheme {
        /// The URL up to its scheme.
        shown: String,
    },
    /// The right scheme, but the rest does not parse.
    #[error("database URL {shown:?} is malformed: {reason}")]
    Malformed {
        /// The URL with any password masked.
        shown: String,
        /// What the parser said.
        reason: String,
    },
}

impl DatabaseUrl {
    /// The default: a SQLite file.
    pub fn sqlite_file(path: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(SqliteConnectOptions::new().filename(path))
    }

    /// Where this database is, fit for logs and error messages (no password).
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(o) => format!("sqlite://{}", o.get_filename().display()),
            DatabaseUrl::Postgres(o) => format!(
                "postgres://{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or_default()
            ),
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        let malformed = |e: sqlx::Error| UrlError::Malformed {
            shown: mask_password(url),
            reason: e.to_string(),
        };
        if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map(DatabaseUrl::Sqlite).map_err(malformed)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url).map(DatabaseUrl::Postgres).map_err(malformed)
        } else {
            let shown = match url.find("://") {
                Some(i) => format!("{}://…", &url[..i]),
                None => mask_password(url),
            };
            Err(UrlError::UnsupportedScheme { shown })
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end], &rest[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_parse() {
        assert!(matches!("sqlite://data/x.db".parse(), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!("sqlite::memory:".parse(), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!("postgres://u@localhost:5432/db".parse(), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!("postgresql://u@localhost/db".parse(), Ok(DatabaseUrl::Postgres(_))));
    }

    #[test]
    fn other_schemes_are_refused_without_leaking_the_rest() {
        let err = "mysql://root:hunter2@db/x".parse::<DatabaseUrl>().unwrap_err();
        assert_eq!(err, UrlError::UnsupportedScheme { shown: "mysql://…".into() });
        assert!(!err.to_string().contains("hunter2"));
        assert!(matches!(
            "not a url".parse::<DatabaseUrl>(),
            Err(UrlError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn malformed_postgres_url_masks_the_password() {
        let err = "postgres://lifeline:hunter2@db:notaport/x".parse::<DatabaseUrl>().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, UrlError::Malformed { .. }), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("lifeline:***@db"), "{text}");
    }

    #[test]
    fn redacted_form_has_no_password() {
        let url: DatabaseUrl = "postgres://lifeline:hunter2@db:5433/life".parse().unwrap();
        assert_eq!(url.redacted(), "postgres://db:5433/life");
    }
}
