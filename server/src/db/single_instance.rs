//! One Lifeline per SQLite file. Two processes on one file would each restore and run every
//! session: two live connections per number, which WhatsApp punishes. An advisory lock on a
//! file beside the database marks the owner; the system lets it go when the process ends,
//! however it ends (a `kill -9` leaves nothing to clean up).

use std::{
    fs::{File, OpenOptions, TryLockError},
    io,
    path::{Path, PathBuf},
};

use thiserror::Error;

use super::DatabaseUrl;

/// Held while this process uses a SQLite database; dropping it lets another take over.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// Why the database could not be claimed.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "another Lifeline is already using the SQLite database {}: SQLite serves one \
         instance at a time; stop the other one first, or move to PostgreSQL (`lifeline \
         copy-db`) to run several",
        database.display()
    )]
    Held {
        /// The database file.
        database: PathBuf,
    },
    /// The lock file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

impl InstanceLock {
    /// Claims `url` for this process when it is a SQLite file; `None` for PostgreSQL (where
    /// instances share the database by design) and for an in-memory SQLite database (which
    /// no other process can reach).
    pub fn claim(url: &DatabaseUrl) -> Result<Option<InstanceLock>, LockError> {
        match url {
            DatabaseUrl::Sqlite(options) => {
                // sqlx names an in-memory database (`sqlite::memory:`) this way.
                let name = options.get_filename().to_string_lossy();
                if name == ":memory:" || name.starts_with("file:sqlx-in-memory-") {
                    return Ok(None);
                }
                InstanceLock::claim_file(options.get_filename()).map(Some)
            }
            DatabaseUrl::Postgres(_) => Ok(None),
        }
    }

    fn claim_file(database: &Path) -> Result<InstanceLock, LockError> {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Open { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(InstanceLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::Held { database: database.to_owned() }),
            Err(TryLockError::Error(source)) => Err(LockError::Open { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(path: &Path) -> DatabaseUrl {
        DatabaseUrl::sqlite_file(path)
    }

    #[test]
    fn a_second_claim_on_one_file_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("lifeline.db");
        let first = InstanceLock::claim(&sqlite(&db)).unwrap();
        assert!(first.is_some());
        let refused = InstanceLock::claim(&sqlite(&db)).unwrap_err();
        assert!(matches!(&refused, LockError::Held { database } if *database == db), "{refused}");
        assert!(refused.to_string().contains("already using the SQLite database"));
        // Another file is another database.
        assert!(InstanceLock::claim(&sqlite(&dir.path().join("other.db"))).unwrap().is_some());
        drop(first);
        assert!(InstanceLock::claim(&sqlite(&db)).unwrap().is_some());
    }

    #[test]
    fn shared_and_private_databases_need_no_claim() {
        assert!(InstanceLock::claim(&"sqlite::memory:".parse().unwrap()).unwrap().is_none());
        let pg = "postgres://lifeline@localhost/lifeline".parse().unwrap();
        assert!(InstanceLock::claim(&pg).unwrap().is_none());
    }
}
