//! Request and response bodies of the REST routes for machines (`/sessions…`, `/keys`).

use serde::{Deserialize, Serialize};

use super::Scope;

/// `POST /sessions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreateSession {
    /// A name for people, 1 to 100 characters.
    pub name: String,
    /// `whatsapp` or, when the server runs with `--simulator` or `--demo`, `simulator`.
    pub connector: String,
    /// To link by a code typed on the phone as well as by QR: the phone's number,
    /// international form (`+27 82 123 4567`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_phone: Option<String>,
}

/// `PATCH /sessions/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpdateSession {
    /// Whether restore and recovery may connect it without a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_connect: Option<bool>,
    /// Whether it is one of the sessions that matter most: while any session is marked,
    /// `GET /health` is `ok` when every marked session that should run is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// `POST /sessions/{id}/messages`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SendMessage {
    /// The recipient's phone number in international form, e.g. `+27821234567`.
    pub to: String,
    /// The text, 1 to [`MAX_TEXT_CHARS`] characters.
    pub text: String,
}

/// `POST /keys`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewApiKey {
    /// What the key is for, 1 to 100 characters.
    pub name: String,
    /// What it may do. There is no default: a key's reach is chosen, not inherited.
    pub scope: Scope,
}

/// The longest text Lifeline sends in one message.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The answer to a sent message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SentMessage {
    /// The upstream's id for the message.
    pub id: String,
}

/// What came of an operator action (`POST /sessions/{id}/reconnect` …): whether it worked,
/// in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ActionResult {
    /// Whether the action was carried out.
    pub success: bool,
    /// What happened, for people.
    pub message: String,
}

/// The longest name of a session or an API key.
pub const MAX_NAME_CHARS: usize = 100;

/// A name (of a session, of an API key) trimmed, or what is wrong with it.
pub fn valid_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("name must not contain control characters".into());
    }
    Ok(name)
}

/// `+27 82 123 4567` as `+27821234567`; `None` when it is not a phone number in
/// international form.
pub fn normalize_phone(phone: &str) -> Option<String> {
    let digits: String =
        phone.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    let valid = (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| format!("+{digits}"))
}

impl CreateSession {
    /// The request with its name trimmed, or what is wrong with it.
    pub fn validated(&self) -> Result<CreateSession, String> {
        let name = valid_name(&self.name)?;
        let pair_phone = match self.pair_phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(phone) => Some(normalize_phone(phone).ok_or_else(|| {
                format!(
                    "pair_phone must be a phone number in international form, like +27821234567 (got {phone:?})"
                )
            })?),
        };
        Ok(CreateSession {
            name: name.to_owned(),
            connector: self.connector.trim().to_owned(),
            pair_phone,
        })
    }
}

impl SendMessage {
    /// The request with the number normalised to `+` and digits, or what is wrong with it.
    pub fn validated(&self) -> Result<SendMessage, String> {
        let Some(to) = normalize_phone(&self.to) else {
            return Err(format!(
                "to must be a phone number in international form, like +27821234567 (got {:?})",
                self.to
            ));
        };
        if self.text.trim().is_empty() {
            return Err("text must not be empty".into());
        }
        let chars = self.text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(format!("text is {chars} characters; the limit is {MAX_TEXT_CHARS}"));
        }
        Ok(SendMessage { to, text: self.text.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(to: &str, text: &str) -> Result<SendMessage, String> {
        SendMessage { to: to.into(), text: text.into() }.validated()
    }

    #[test]
    fn phone_numbers_are_normalised() {
        assert_eq!(msg("+27 82 123-4567", "hi").unwrap().to, "+27821234567");
        assert_eq!(msg("27821234567", "hi").unwrap().to, "+27821234567");
    }

    #[test]
    fn bad_numbers_and_texts_are_refused() {
        for to in ["", "+", "12345", "+0821234567", "+2782123456789012", "hello", "+27 82 abc"] {
            assert!(msg(to, "hi").is_err(), "{to:?} accepted");
        }
        assert!(msg("+27821234567", "   ").is_err());
        assert!(msg("+27821234567", &"x".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(msg("+27821234567", &"x".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        let create = |name: &str| {
            CreateSession { name: name.into(), connector: "simulator".into(), pair_phone: None }
                .validated()
        };
        assert_eq!(create("  Shop  ").unwrap().name, "Shop");
        assert!(create("   ").is_err());
        assert!(create(&"n".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(create("a\u{7}b").is_err());
    }

    #[test]
    fn a_pairing_phone_is_optional_and_normalised() {
        let create = |phone: Option<&str>| {
            let pair_phone = phone.map(str::to_owned);
            CreateSession { name: "Shop".into(), connector: "whatsapp".into(), pair_phone }
                .validated()
        };
        assert_eq!(create(None).unwrap().pair_phone, None);
        assert_eq!(create(Some("  ")).unwrap().pair_phone, None);
        let normalised = create(Some("+27 82 123 4567")).unwrap().pair_phone;
        assert_eq!(normalised.as_deref(), Some("+27821234567"));
        let error = create(Some("082 123")).unwrap_err();
        assert!(error.contains("pair_phone"), "{error}");
        let body: CreateSession =
            serde_json::from_str(r#"{"name":"Shop","connector":"whatsapp"}"#).unwrap();
        assert_eq!(body.pair_phone, None);
    }
}
