//! Credentials at rest: sealed with XChaCha20-Poly1305 under the key from
//! `LIFELINE_SECRET_KEY`, each bound to the session it belongs to, so a copied database is
//! useless without the key and one session's keys cannot be swapped into another's row.
//! Every value names the key that sealed it (a key id, derived from the key and revealing
//! nothing of it), so a value sealed with another key is told apart from an altered one,
//! and `lifeline rekey` can move everything to a new key.

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit, Payload},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The format byte in front of every sealed value: 2 is format byte, key id, nonce,
/// ciphertext.
const VERSION: u8 = 2;
/// The first format, without a key id: still opened, never written.
const UNNAMED: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 8;
/// The bytes of a keyed hash kept: 128 bits, beyond any chance of two addresses meeting.
const HASH_LEN: usize = 16;

/// Which key sealed a value: the first bytes of an HMAC of a fixed label under the key, so
/// the id names the key without helping anyone find it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The key credentials are sealed with. Its `Debug` never shows the bytes. What is derived
/// from it (its id, the keyed-hash key) is worked out once, not on every seal and hash.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
    id: KeyId,
    hash_key: [u8; 32],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// A `LIFELINE_SECRET_KEY` that cannot be used.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error(
    "the secret key must be 32 bytes written as 64 hex digits or in base64 ({0}); \
     `lifeline gen-key` prints a new one"
)]
pub struct KeyError(String);

/// Why a sealed value could not be opened.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SealError {
    /// Too short, or an unknown format.
    #[error("the stored value is not a sealed credential (unknown format or truncated)")]
    Malformed,
    /// Another key sealed it, it belongs to another session, or it was altered.
    #[error(
        "the stored credentials do not open with this LIFELINE_SECRET_KEY (another key sealed them, or they were altered)"
    )]
    WrongKey,
    /// Sealed with another key, whose id it names.
    #[error(
        "the stored credentials were sealed with secret key {sealed_with}, not with this \
         LIFELINE_SECRET_KEY ({this}); after changing the key, run `lifeline rekey --from OLD \
         --to NEW`"
    )]
    OtherKey {
        /// The key that sealed the value.
        sealed_with: KeyId,
        /// The key that tried to open it.
        this: KeyId,
    },
}

impl FromStr for SecretKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<SecretKey, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == KEY_LEN * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..KEY_LEN)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| KeyError(e.to_string()))?
        } else {
            general_purpose::STANDARD
                .decode(text)
                .or_else(|_| general_purpose::URL_SAFE_NO_PAD.decode(text))
                .or_else(|_| general_purpose::STANDARD_NO_PAD.decode(text))
                .map_err(|_| KeyError("neither hex nor base64".into()))?
        };
        let bytes: [u8; KEY_LEN] =
            bytes.try_into().map_err(|b: Vec<u8>| KeyError(format!("got {} bytes", b.len())))?;
        Ok(SecretKey::from_bytes(bytes))
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> SecretKey {
        SecretKey::from_bytes(rand::random())
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("HMAC takes a key of any length");
        mac.update(b"lifeline sealed-value key id");
        let tag = mac.finalize().into_bytes();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&tag[..KEY_ID_LEN]);
        let hash_key = SecretKey::mac(&bytes, &[b"lifeline keyed-hash key"]);
        SecretKey { bytes, id: KeyId(id), hash_key }
    }

    /// The key in standard base64, as `LIFELINE_SECRET_KEY` takes it.
    pub fn to_base64(&self) -> String {
        general_purpose::STANDARD.encode(self.bytes)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.bytes).into())
    }

    /// An HMAC-SHA256 under `key` of `parts`, each preceded by its length so that no two
    /// lists of parts run together into the same input.
    fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// This key's id, as sealed values name it: the first bytes of an HMAC of a fixed label
    /// under the key.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// A keyed hash of `parts`, 128 bits in hex: the same parts give the same hash under
    /// this key, and without the key nobody can tell which parts gave it — not even by
    /// trying every phone number, which a plain hash would allow. It uses a key derived
    /// from this one, never the sealing key itself.
    pub fn keyed_hash(&self, parts: &[&str]) -> String {
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        hex(&SecretKey::mac(&self.hash_key, &parts)[..HASH_LEN])
    }

    /// The id of the key that sealed `sealed`; `None` for the first format, which named none.
    pub fn sealed_with(sealed: &[u8]) -> Option<KeyId> {
        match sealed.split_first() {
            Some((&VERSION, rest)) if rest.len() >= KEY_ID_LEN => {
                let mut id = [0; KEY_ID_LEN];
                id.copy_from_slice(&rest[..KEY_ID_LEN]);
                Some(KeyId(id))
            }
            _ => None,
        }
    }

    /// Seals `plain` for the session `owner`: format byte, key id, random nonce, ciphertext.
    pub fn seal(&self, plain: &[u8], owner: &str) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: owner.as_bytes() })
            // Encryption fails only for inputs beyond 256 GiB, which credentials never are.
            .expect("sealing credentials cannot fail");
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`SecretKey::seal`] sealed for the same `owner` (in either format).
    pub fn open(&self, sealed: &[u8], owner: &str) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Malformed)?;
        let rest = match version {
            VERSION => {
                let sealed_with = SecretKey::sealed_with(sealed).ok_or(SealError::Malformed)?;
                if sealed_with != self.id {
                    return Err(SealError::OtherKey { sealed_with, this: self.id });
                }
                &rest[KEY_ID_LEN..]
            }
            UNNAMED => rest,
            _ => return Err(SealError::Malformed),
        };
        if rest.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: owner.as_bytes() })
            .map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_credentials_open_again_and_do_not_show_the_plain_bytes() {
        let key = SecretKey::generate();
        let plain = b"noise key, identity key, signed prekey".to_vec();
        let sealed = key.seal(&plain, "session-1");
        assert_ne!(sealed, plain);
        assert!(!sealed.windows(plain.len()).any(|w| w == plain.as_slice()));
        // A fresh nonce each time: the same input never seals to the same bytes.
        assert_ne!(sealed, key.seal(&plain, "session-1"));
        assert_eq!(key.open(&sealed, "session-1"), Ok(plain));
    }

    #[test]
    fn another_key_another_session_or_a_flipped_bit_do_not_open() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"secret", "a");
        let other = SecretKey::generate();
        assert_eq!(
            other.open(&sealed, "a"),
            Err(SealError::OtherKey { sealed_with: key.id(), this: other.id() })
        );
        assert!(other.open(&sealed, "a").unwrap_err().to_string().contains("lifeline rekey"));
        assert_eq!(key.open(&sealed, "b"), Err(SealError::WrongKey));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(&altered, "a"), Err(SealError::WrongKey));
        assert_eq!(key.open(&sealed[..10], "a"), Err(SealError::Malformed));
        assert_eq!(key.open(b"", "a"), Err(SealError::Malformed));
        let mut future = sealed;
        future[0] = 3;
        assert_eq!(key.open(&future, "a"), Err(SealError::Malformed));
    }

    #[test]
    fn values_name_their_key_and_the_first_format_still_opens() {
        let key = SecretKey::generate();
        assert_eq!(key.id(), key.clone().id());
        assert_ne!(key.id(), SecretKey::generate().id());
        assert_eq!(SecretKey::sealed_with(&key.seal(b"x", "a")), Some(key.id()));
        assert!(!format!("{}", key.id()).contains(&key.to_base64()));

        // Format 1: format byte, nonce, ciphertext, as the first Lifeline wrote it.
        let nonce = [7u8; NONCE_LEN];
        let body = key
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: b"old", aad: b"a" })
            .unwrap();
        let old = [&[UNNAMED][..], &nonce, &body].concat();
        assert_eq!(SecretKey::sealed_with(&old), None);
        assert_eq!(key.open(&old, "a"), Ok(b"old".to_vec()));
        assert_eq!(SecretKey::generate().open(&old, "a"), Err(SealError::WrongKey));
    }

    #[test]
    fn keyed_hashes_are_stable_per_key_and_tell_parts_apart() {
        let key = SecretKey::generate();
        let hash = key.keyed_hash(&["a", "27820000001@s.whatsapp.net"]);
        assert_eq!(hash.len(), 2 * HASH_LEN);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(hash, key.clone().keyed_hash(&["a", "27820000001@s.whatsapp.net"]));
        assert_ne!(hash, SecretKey::generate().keyed_hash(&["a", "27820000001@s.whatsapp.net"]));
        assert_ne!(hash, key.keyed_hash(&["b", "27820000001@s.whatsapp.net"]));
        // Where one part ends and the next begins counts.
        assert_ne!(key.keyed_hash(&["ab", "c"]), key.keyed_hash(&["a", "bc"]));
        assert_ne!(key.keyed_hash(&["", ""]), key.keyed_hash(&[""]));
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_and_never_printed() {
        let key = SecretKey::generate();
        assert_eq!(key.to_base64().parse::<SecretKey>(), Ok(key.clone()));
        let hex = hex(&key.bytes);
        assert_eq!(hex.parse::<SecretKey>(), Ok(key.clone()));
        assert_eq!(format!("{key:?}"), "SecretKey(…)");
        let short = "c2hvcnQ=".parse::<SecretKey>().unwrap_err();
        assert!(short.to_string().contains("got 5 bytes"), "{short}");
        assert!("not a key!".parse::<SecretKey>().is_err());
        assert!(short.to_string().contains("lifeline gen-key"));
    }
}
