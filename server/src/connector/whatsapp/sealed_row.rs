//! How one record of the key store lies in its row, so that a copy of the database shows
//! neither the keys nor whom the number talks to.
//!
//! A record is addressed by `(session, space, scope, item)`, and the scope and item are
//! mostly JIDs, phone numbers and message ids: the contact graph. The row holds them as
//! keyed hashes ([`SecretKey::keyed_hash`] of session, space and the text), which find the
//! record again but name nobody; the clear scope and item travel inside the sealed value,
//! in front of the record's bytes, for the few reads that list records (every sender-key
//! device of a group, every contact with a token). The value is sealed for the row's
//! hashed address, so a value moved to another row, space or session does not open.
//!
//! Rows written before the hashes (layout 1) held the clear scope and item and a value
//! sealed for them; start-up converts them ([`super::rekey::convert`]).

use std::fmt;

use crate::secret_key::{SealError, SecretKey};

/// The layout every row is written in: hashed address, clear address in the value.
pub const HASHED: i16 = 2;
/// The first layout: clear address in the row, only the record's bytes in the value.
pub const CLEAR: i16 = 1;

/// A record ready for its row.
pub struct SealedRow {
    /// The scope's keyed hash.
    pub scope: String,
    /// The item's keyed hash.
    pub item: String,
    /// The clear scope and item and the record's bytes, sealed for the hashed address.
    pub value: Vec<u8>,
}

/// A record taken out of its row. Its `Debug` leaves the bytes out: they are keys.
#[derive(PartialEq, Eq)]
pub struct Opened {
    /// The clear scope.
    pub scope: String,
    /// The clear item.
    pub item: String,
    /// The record's bytes.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("scope", &self.scope)
            .field("item", &self.item)
            .finish_non_exhaustive()
    }
}

/// Why a row did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The seal did not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// It opened, but what is inside is not a record (cut short).
    #[error("the stored record is cut short")]
    Truncated,
    /// A layout this build does not know.
    #[error("the stored record has layout {0}, which this version of Lifeline does not know")]
    Layout(i16),
}

/// The keyed hash a scope or item is stored as. An empty one names nobody and stays empty:
/// the device record, at the empty address, is then found even with another key, which
/// can say whose key sealed it rather than find no device at all.
pub fn hashed(key: &SecretKey, session_id: &str, space: &str, part: &str) -> String {
    if part.is_empty() {
        return String::new();
    }
    key.keyed_hash(&[session_id, space, part])
}

/// What a row's value is sealed for: its full address as the row holds it (in the first
/// layout, the clear one).
pub fn sealed_for(session_id: &str, space: &str, scope: &str, item: &str) -> String {
    [session_id, space, scope, item].join("\u{1f}")
}

/// Seals `bytes` at `(session_id, space, scope, item)`.
pub fn seal(
    key: &SecretKey,
    session_id: &str,
    space: &str,
    scope: &str,
    item: &str,
    bytes: &[u8],
) -> SealedRow {
    let hashed_scope = hashed(key, session_id, space, scope);
    let hashed_item = hashed(key, session_id, space, item);
    let mut plain = Vec::with_capacity(8 + scope.len() + item.len() + bytes.len());
    for part in [scope, item] {
        plain.extend_from_slice(&(part.len() as u32).to_be_bytes());
        plain.extend_from_slice(part.as_bytes());
    }
    plain.extend_from_slice(bytes);
    let value = key.seal(&plain, &sealed_for(session_id, space, &hashed_scope, &hashed_item));
    SealedRow { scope: hashed_scope, item: hashed_item, value }
}

/// The stored row of one record, as read.
pub struct StoredRow<'a> {
    /// The session it belongs to.
    pub session_id: &'a str,
    /// Its space.
    pub space: &'a str,
    /// Its scope column.
    pub scope: &'a str,
    /// Its item column.
    pub item: &'a str,
    /// Its value column.
    pub value: &'a [u8],
    /// Its layout column.
    pub layout: i16,
}

/// A stored row read whole, with its session and space, as re-sealing and copying every
/// row read them.
#[derive(sqlx::FromRow)]
pub struct WholeRow {
    /// The session it belongs to.
    pub session_id: String,
    /// Its space.
    pub space: String,
    /// Its scope column.
    pub scope: String,
    /// Its item column.
    pub item: String,
    /// Its value column.
    pub value: Vec<u8>,
    /// What the store orders or filters by without opening the value.
    pub num: i64,
    /// A flag the store filters by ("uploaded", "has key").
    pub flag: bool,
    /// Its layout column.
    pub layout: i16,
}

impl WholeRow {
    /// The columns it is read from.
    pub const COLUMNS: &str = "session_id, space, scope, item, value, num, flag, layout";

    /// The row, to open.
    pub fn stored(&self) -> StoredRow<'_> {
        StoredRow {
            session_id: &self.session_id,
            space: &self.space,
            scope: &self.scope,
            item: &self.item,
            value: &self.value,
            layout: self.layout,
        }
    }
}

impl fmt::Debug for StoredRow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} record of session {}", self.space, self.session_id)
    }
}

/// Opens a stored row, in either layout.
pub fn open(key: &SecretKey, row: &StoredRow<'_>) -> Result<Opened, OpenError> {
    let plain = key.open(row.value, &sealed_for(row.session_id, row.space, row.scope, row.item))?;
    match row.layout {
        HASHED => {
            let (scope, rest) = part(&plain)?;
            let (item, rest) = part(rest)?;
            Ok(Opened { scope, item, bytes: rest.to_vec() })
        }
        CLEAR => Ok(Opened { scope: row.scope.into(), item: row.item.into(), bytes: plain }),
        other => Err(OpenError::Layout(other)),
    }
}

/// One length-prefixed text from the front of `bytes`, and what follows it.
fn part(bytes: &[u8]) -> Result<(String, &[u8]), OpenError> {
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or(OpenError::Truncated)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| OpenError::Truncated)?;
    if rest.len() < len {
        return Err(OpenError::Truncated);
    }
    let (text, rest) = rest.split_at(len);
    let text = String::from_utf8(text.to_vec()).map_err(|_| OpenError::Truncated)?;
    Ok((text, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored<'a>(sealed: &'a SealedRow, session_id: &'a str, space: &'a str) -> StoredRow<'a> {
        StoredRow {
            session_id,
            space,
            scope: &sealed.scope,
            item: &sealed.item,
            value: &sealed.value,
            layout: HASHED,
        }
    }

    #[test]
    fn a_row_shows_no_address_and_opens_to_it_again() {
        let key = SecretKey::generate();
        let jid = "27820000001@s.whatsapp.net";
        let row = seal(&key, "a", "tc_token", "", jid, b"token");
        for column in [&row.scope, &row.item] {
            assert!(!column.contains("2782") && !column.contains('@'), "{column}");
        }
        assert!(!row.value.windows(jid.len()).any(|w| w == jid.as_bytes()));
        let opened = open(&key, &stored(&row, "a", "tc_token")).unwrap();
        let want = Opened { scope: String::new(), item: jid.into(), bytes: b"token".to_vec() };
        assert_eq!(opened, want);

        // The same contact in another session or space has another hash.
        assert_ne!(row.item, seal(&key, "b", "tc_token", "", jid, b"").item);
        assert_ne!(row.item, seal(&key, "a", "identity", "", jid, b"").item);
        // A lookup finds the row by hashing what it asks for.
        assert_eq!(row.item, hashed(&key, "a", "tc_token", jid));
        assert_eq!(row.scope, "", "the empty scope names nobody and stays empty");
    }

    #[test]
    fn a_row_moved_or_altered_does_not_open() {
        let key = SecretKey::generate();
        let row = seal(&key, "a", "session", "", "x@s.whatsapp.net", b"ratchet");
        assert!(open(&key, &stored(&row, "b", "session")).is_err(), "another session");
        assert!(open(&key, &stored(&row, "a", "identity")).is_err(), "another space");
        let other = seal(&key, "a", "session", "", "y@s.whatsapp.net", b"");
        let swapped = StoredRow { item: &other.item, ..stored(&row, "a", "session") };
        assert!(open(&key, &swapped).is_err(), "another item");
        let unknown = StoredRow { layout: 9, ..stored(&row, "a", "session") };
        assert_eq!(open(&key, &unknown), Err(OpenError::Layout(9)));
    }

    #[test]
    fn the_clear_layout_still_opens() {
        let key = SecretKey::generate();
        let value = key.seal(b"ratchet", &sealed_for("a", "session", "", "x@s.whatsapp.net"));
        let row = StoredRow {
            session_id: "a",
            space: "session",
            scope: "",
            item: "x@s.whatsapp.net",
            value: &value,
            layout: CLEAR,
        };
        let opened = open(&key, &row).unwrap();
        assert_eq!((opened.item.as_str(), opened.bytes.as_slice()), (row.item, &b"ratchet"[..]));
    }

    #[test]
    fn a_cut_short_record_is_refused() {
        assert_eq!(part(&[0, 0]), Err(OpenError::Truncated));
        assert_eq!(part(&[0, 0, 0, 5, b'a']), Err(OpenError::Truncated));
        assert_eq!(part(&[0, 0, 0, 1, b'a', b'b']), Ok(("a".into(), &b"b"[..])));
    }
}
