//! Ending what a credential holds open the moment it stops being valid.
//!
//! A request is checked once, but an event channel lives for hours. Each channel holds a
//! [`Watch`] on the credential it was opened with; revoking a key, ending a login, or
//! changing the password (which ends the account's other logins) cancels the watches of
//! those credentials at once. Channels of a credential that is not revoked here (a login
//! that simply expires, or one ended by another instance) are still caught by the
//! channel's heartbeat, which checks the credentials again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio_util::sync::CancellationToken;

/// A credential something may be held open with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A key created in Settings, by id.
    Key(String),
    /// A dashboard login, by the SHA-256 of its token.
    Login(String),
}

#[derive(Debug)]
struct Entry {
    revoked: CancellationToken,
    holders: usize,
    /// The account a login belongs to.
    owner: Option<String>,
    /// Tells this entry from a later one for the same credential (made after a revocation),
    /// so a watch of the revoked one cannot give up a hold it does not have.
    generation: u64,
}

#[derive(Debug, Default)]
struct Open {
    entries: HashMap<Credential, Entry>,
    generations: u64,
}

/// The credentials with something open, and how many things each holds open.
#[derive(Debug, Default)]
pub struct Revocations {
    open: Mutex<Open>,
}

/// A hold on one credential: [`Watch::revoked`] completes when the credential is revoked.
/// Dropping the watch gives up the hold.
#[derive(Debug)]
pub struct Watch {
    revoked: CancellationToken,
    held: Option<(Arc<Revocations>, Credential, u64)>,
}

impl Watch {
    /// A watch on a credential that is never revoked while the server runs (the key given
    /// by `LIFELINE_API_KEY`).
    pub fn never() -> Watch {
        Watch { revoked: CancellationToken::new(), held: None }
    }

    /// Completes when the credential is revoked.
    pub async fn revoked(&self) {
        self.revoked.cancelled().await;
    }

    /// Whether the credential was revoked.
    #[cfg(test)]
    pub fn is_revoked(&self) -> bool {
        self.revoked.is_cancelled()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((registry, credential, generation)) = self.held.take() {
            let mut open = registry.open();
            if let Some(entry) = open.entries.get_mut(&credential)
                && entry.generation == generation
            {
                entry.holders -= 1;
                if entry.holders == 0 {
                    open.entries.remove(&credential);
                }
            }
        }
    }
}

impl Revocations {
    /// Holds `credential` (a login of `owner`'s, if it is a login) until the returned watch
    /// is dropped.
    pub fn watch(self: &Arc<Self>, credential: Credential, owner: Option<&str>) -> Watch {
        let mut open = self.open();
        open.generations += 1;
        let generation = open.generations;
        let entry = open.entries.entry(credential.clone()).or_insert_with(|| Entry {
            revoked: CancellationToken::new(),
            holders: 0,
            owner: owner.map(str::to_owned),
            generation,
        });
        entry.holders += 1;
        let generation = entry.generation;
        Watch { revoked: entry.revoked.clone(), held: Some((self.clone(), credential, generation)) }
    }

    /// Revokes one credential: every watch on it completes.
    pub fn revoke(&self, credential: &Credential) {
        if let Some(entry) = self.open().entries.remove(credential) {
            entry.revoked.cancel();
        }
    }

    /// Revokes every login of `username` but the one whose token hash is `keep`.
    pub fn revoke_logins_of(&self, username: &str, keep: &str) {
        self.open().entries.retain(|credential, entry| {
            let other_login = matches!(credential, Credential::Login(token_hash) if token_hash != keep)
                && entry.owner.as_deref() == Some(username);
            if other_login {
                entry.revoked.cancel();
            }
            !other_login
        });
    }

    /// How many credentials have something open (for tests of the bookkeeping).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.open().entries.len()
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Credential {
        Credential::Key(id.into())
    }

    #[test]
    fn revoking_a_key_ends_every_watch_on_it_and_no_other() {
        let r = Arc::new(Revocations::default());
        let (a1, a2) = (r.watch(key("a"), None), r.watch(key("a"), None));
        let b = r.watch(key("b"), None);
        r.revoke(&key("a"));
        assert!(a1.is_revoked() && a2.is_revoked());
        assert!(!b.is_revoked());
        // A new hold after the revocation is a new entry: the request that opens it was
        // checked after the key was gone, and is refused there.
        assert!(!r.watch(key("a"), None).is_revoked());
    }

    #[test]
    fn a_password_change_ends_the_accounts_other_logins() {
        let r = Arc::new(Revocations::default());
        let login = |token: &str| Credential::Login(token.into());
        let this = r.watch(login("t1"), Some("admin"));
        let other = r.watch(login("t2"), Some("admin"));
        let someone_else = r.watch(login("t3"), Some("ops"));
        let a_key = r.watch(key("t4"), None);
        r.revoke_logins_of("admin", "t1");
        assert!(!this.is_revoked());
        assert!(other.is_revoked());
        assert!(!someone_else.is_revoked() && !a_key.is_revoked());
        r.revoke(&login("t1"));
        assert!(this.is_revoked(), "logging out ends this login's channels too");
    }

    #[test]
    fn holds_are_forgotten_when_the_last_watch_goes() {
        let r = Arc::new(Revocations::default());
        let w1 = r.watch(key("a"), None);
        let w2 = r.watch(key("a"), None);
        assert_eq!(r.held(), 1);
        drop(w1);
        assert_eq!(r.held(), 1);
        drop(w2);
        assert_eq!(r.held(), 0);
        // A watch that outlives its revocation gives nothing back twice.
        let w = r.watch(key("b"), None);
        r.revoke(&key("b"));
        let fresh = r.watch(key("b"), None);
        drop(w);
        assert_eq!(r.held(), 1, "the revoked watch must not release the fresh one's hold");
        drop(fresh);
        assert_eq!(r.held(), 0);
        assert!(Watch::never().held.is_none());
    }
}
