//! Who may use Lifeline: the dashboard's admin account and API keys for machines.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::session::{ParseError, text_enum};

/// Where the visitor of the dashboard stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AuthState {
    /// No admin account exists yet: the setup page creates it.
    NeedsSetup,
    /// An admin exists; this visitor is not logged in.
    LoggedOut,
    /// Logged in.
    LoggedIn {
        /// The admin's name.
        username: String,
    },
}

/// What the setup page sends to create the first admin.
#[derive(Clone, Copy, Debug)]
pub struct SetupForm<'a> {
    /// The admin's name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// The password again.
    pub confirm: &'a str,
    /// The one-time setup code the server printed in its log.
    pub code: &'a str,
}

/// What an API key may do; each scope includes the ones before it. A dashboard login may
/// do everything.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Scope {
    /// Look: health, metrics, sessions, the event channel.
    #[default]
    Read,
    /// Act on sessions: create, start, stop, reconnect, log out, delete, send.
    Operate,
    /// Manage API keys (and with them, everything else).
    Admin,
}

text_enum!(Scope, "API key scope", { Read => "read", Operate => "operate", Admin => "admin" });

impl Scope {
    /// What a key with this scope may do, for the Settings page.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Read => "read: watch only",
            Scope::Operate => "operate: also act on sessions and send",
            Scope::Admin => "admin: also create and revoke keys",
        }
    }
}

/// What a request must carry to be let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// An API key with at least this scope, or a dashboard login.
    Key(Scope),
    /// A dashboard login: no API key will do (the admin password, and the dashboard's own
    /// key management, which a leaked key must not reach).
    Login,
}

/// An API key as listed (never the key itself, which is shown once at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    /// Stable identifier.
    pub id: String,
    /// What the key is for, in the operator's words.
    pub name: String,
    /// The key's first characters, enough to recognise it.
    pub prefix: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last accepted, roughly (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its full text is available.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The key to send as `x-api-key`. Not stored anywhere: copy it now.
    pub key: String,
    /// The key as it will be listed.
    pub info: ApiKeyView,
}

/// The shortest password accepted for the admin account.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted (argon2 hashes anything, but a limit bounds the work).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What is wrong with a new username, if anything.
pub fn check_username(username: &str) -> Result<(), String> {
    let name = username.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err("the username must be 1 to 64 characters".into());
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the username must not contain spaces or control characters".into());
    }
    Ok(())
}

/// What is wrong with a new password and its confirmation, if anything.
pub fn check_new_password(password: &str, confirm: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!("the password must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!("the password must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    if password != confirm {
        return Err("the two passwords differ".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_include_the_ones_before() {
        assert!(Scope::Read < Scope::Operate && Scope::Operate < Scope::Admin);
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(*scope));
            let json = serde_json::to_string(scope).unwrap();
            assert_eq!(json, format!("\"{scope}\""));
        }
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn new_passwords_are_checked() {
        assert!(check_new_password("short", "short").is_err());
        assert!(check_new_password("long enough pass", "long enough pasS").is_err());
        assert!(check_new_password("long enough pass", "long enough pass").is_ok());
        assert!(
            check_new_password(
                &"x".repeat(MAX_PASSWORD_CHARS + 1),
                &"x".repeat(MAX_PASSWORD_CHARS + 1)
            )
            .is_err()
        );
    }

    #[test]
    fn usernames_are_checked() {
        assert!(check_username("admin").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("two words").is_err());
        assert!(check_username(&"a".repeat(65)).is_err());
    }
}
