//! Signatures per the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), made with the
//! specification's own Rust library so that receivers' libraries in every language agree.

use base64::Engine;
use rand::RngCore;
use standardwebhooks::Webhook;

/// How endpoint secrets begin.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret.
const SECRET_BYTES: usize = 32;

/// A new endpoint secret, `whsec_` and base64.
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// A stored secret that does not decode: the row was changed by hand.
#[derive(Debug, thiserror::Error)]
#[error("the endpoint's secret is not a whsec_ secret: {0}")]
pub struct BadSecret(String);

/// The three headers of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// `webhook-id`: the event's id, the same on every attempt.
    pub id: String,
    /// `webhook-timestamp`: seconds since the epoch, of this attempt.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: String,
}

/// Signs `body` of event `id` for an attempt at `timestamp` with `secret`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<Signed, BadSecret> {
    let webhook = Webhook::new(secret).map_err(|e| BadSecret(e.to_string()))?;
    let signature =
        webhook.sign(id, timestamp, body.as_bytes()).map_err(|e| BadSecret(e.to_string()))?;
    Ok(Signed { id: id.to_owned(), timestamp, signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signs_as_documented() {
        // The example of the Standard Webhooks specification's reference libraries.
        let signed = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(signed.signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn new_secrets_are_distinct_and_usable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert!(sign(&a, "msg_1", 1, "{}").is_ok());
        assert!(sign("whsec_not base64!", "msg_1", 1, "{}").is_err());
    }
}
