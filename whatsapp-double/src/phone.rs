//! The phone's part of linking a device: it reads the QR code a new device shows, or takes
//! the code typed into it (pairing by phone number), and vouches for the device's identity
//! key with the account's key, bound to the secret only the two of them share (what the
//! client checks in `pair-success`).

use base64::{Engine as _, prelude::BASE64_STANDARD};
use buffa::Message;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use whatsapp_rust::{
    wacore::{
        crypto::hkdf_sha256_into,
        libsignal::{
            crypto::aes_256_gcm_decrypt,
            protocol::{KeyPair, PublicKey},
        },
        pair_code::PairCodeUtils,
    },
    wacore_binary::{Jid, Node, NodeRef, builder::NodeBuilder},
    waproto::whatsapp::{self as wa, ADVEncryptionType},
};

use crate::digits;

/// The account-signature prefix of WhatsApp's device identities (ADV, E2EE accounts).
const ADV_ACCOUNT_SIGNATURE_PREFIX: &[u8] = &[6, 0];
/// What a phone's camera link may put before the QR payload.
const DEEP_LINK_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// A QR code as the phone read it.
#[derive(Clone, Debug)]
pub struct Scan {
    /// The pairing reference the server gave the connection.
    pub reference: String,
    /// The new device's identity key.
    pub identity: [u8; 32],
    /// The secret shared through the code.
    pub adv_secret: Vec<u8>,
    /// The number of the phone that scanned.
    pub phone: String,
}

fn key(b64: &str, what: &str) -> Result<Vec<u8>, String> {
    BASE64_STANDARD.decode(b64).map_err(|e| format!("the QR code's {what} is not base64: {e}"))
}

impl Scan {
    /// Reads `ref,noise,identity,secret[,type]`.
    pub fn read(qr: &str, phone: &str) -> Result<Scan, String> {
        let body = qr.strip_prefix(DEEP_LINK_PREFIX).unwrap_or(qr);
        let fields: Vec<&str> = body.split(',').collect();
        let [reference, _noise, identity, secret, ..] = fields[..] else {
            return Err(format!("not a WhatsApp QR code: {qr:?}"));
        };
        let identity = key(identity, "identity key")?
            .try_into()
            .map_err(|_| "the QR code's identity key is not 32 bytes".to_owned())?;
        Ok(Scan {
            reference: reference.to_owned(),
            identity,
            adv_secret: key(secret, "secret")?,
            phone: digits(phone),
        })
    }

    /// `<pair-success>` for the device `jid`.
    pub fn pair_success(&self, id: &str, jid: &Jid, lid: &Jid) -> Node {
        pair_success(&self.identity, &self.adv_secret, id, jid, lid)
    }
}

/// `<pair-success>` for the device `jid` whose identity key is `identity`, signed by a fresh
/// account key and bound to `adv_secret`.
pub fn pair_success(
    identity: &[u8; 32],
    adv_secret: &[u8],
    id: &str,
    jid: &Jid,
    lid: &Jid,
) -> Node {
    let mut rng = rand::rng();
    let account = KeyPair::generate(&mut rng);
    let details = wa::ADVDeviceIdentity {
        raw_id: Some(rand::random()),
        timestamp: Some(crate::unix_now()),
        key_index: Some(u32::from(jid.device)),
        account_type: Some(ADVEncryptionType::E2EE),
        device_type: Some(ADVEncryptionType::E2EE),
    }
    .encode_to_vec();
    let mut signed = ADV_ACCOUNT_SIGNATURE_PREFIX.to_vec();
    signed.extend_from_slice(&details);
    signed.extend_from_slice(identity);
    let signature = account
        .private_key
        .calculate_signature(&signed, &mut rng)
        .expect("signing with a fresh key works");
    let identity = wa::ADVSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account.public_key.public_key_bytes().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(adv_secret).expect("HMAC takes keys of any length");
    mac.update(&identity);
    let container = wa::ADVSignedDeviceIdentityHMAC {
        details: Some(identity),
        hmac: Some(mac.finalize().into_bytes().to_vec()),
        account_type: Some(ADVEncryptionType::E2EE),
    }
    .encode_to_vec();
    NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", id.to_owned())
        .attr("type", "set")
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-success")
            .children([
                NodeBuilder::new("device-identity").bytes(container).build(),
                NodeBuilder::new("device")
                    .attr("jid", jid.clone())
                    .attr("lid", lid.clone())
                    .build(),
                NodeBuilder::new("platform").attr("name", "android").build(),
            ])
            .build()])
        .build()
}

/// The phone's side of pairing by a typed code, from the companion's request to the secret.
pub struct PhoneCode {
    /// The number the code was asked for.
    pub phone: String,
    /// The reference the server gave the request.
    pub reference: Vec<u8>,
    /// The companion's ephemeral key, sealed with the code.
    wrapped_companion: Vec<u8>,
    /// Once the code is typed: the phone's ephemeral and identity keys, and the companion's
    /// ephemeral key.
    typed: Option<(KeyPair, KeyPair, [u8; 32])>,
}

impl PhoneCode {
    /// Reads `<link_code_companion_reg stage="companion_hello">`.
    pub fn requested(request: &NodeRef<'_>) -> Option<PhoneCode> {
        let phone = request.get_attr("jid")?.to_jid()?.user.to_string();
        let wrapped = request
            .get_optional_child("link_code_pairing_wrapped_companion_ephemeral_pub")?
            .content_bytes()?
            .to_vec();
        Some(PhoneCode {
            phone,
            reference: format!("{:032x}", rand::random::<u128>()).into_bytes(),
            wrapped_companion: wrapped,
            typed: None,
        })
    }

    /// The person types `code` on the phone: `<notification stage="primary_hello">`, or why
    /// the code does not fit.
    pub fn typed(&mut self, code: &str) -> Result<Node, String> {
        let companion = PairCodeUtils::decrypt_primary_ephemeral_pub(&self.wrapped_companion, code)
            .map_err(|e| e.to_string())?;
        let mut rng = rand::rng();
        let (ephemeral, identity) = (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
        let public: [u8; 32] =
            ephemeral.public_key.public_key_bytes().try_into().expect("32 bytes");
        let wrapped = PairCodeUtils::encrypt_ephemeral_pub(&public, code);
        let hello = NodeBuilder::new("notification")
            .attr("type", "link_code_companion_reg")
            .attr("from", "s.whatsapp.net")
            .attr("id", format!("{:08x}", rand::random::<u32>()))
            .children([NodeBuilder::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children([
                    NodeBuilder::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(wrapped.to_vec())
                        .build(),
                    NodeBuilder::new("primary_identity_pub")
                        .bytes(identity.public_key.public_key_bytes().to_vec())
                        .build(),
                    NodeBuilder::new("link_code_pairing_ref").bytes(self.reference.clone()).build(),
                ])
                .build()])
            .build();
        self.typed = Some((ephemeral, identity, companion));
        Ok(hello)
    }

    /// `<notification stage="refresh_code">`: the server retires the code on show.
    pub fn refresh(&self) -> Node {
        NodeBuilder::new("notification")
            .attr("type", "link_code_companion_reg")
            .attr("from", "s.whatsapp.net")
            .attr("id", format!("{:08x}", rand::random::<u32>()))
            .children([NodeBuilder::new("link_code_companion_reg")
                .attr("stage", "refresh_code")
                .attr("force_manual_refresh", "true")
                .children([NodeBuilder::new("link_code_pairing_ref")
                    .bytes(self.reference.clone())
                    .build()])
                .build()])
            .build()
    }

    /// Reads `<link_code_companion_reg stage="companion_finish">`: the companion's identity
    /// key and the secret both sides now share.
    pub fn finished(&self, finish: &NodeRef<'_>) -> Result<([u8; 32], Vec<u8>), String> {
        let (ephemeral, identity, companion) =
            self.typed.as_ref().ok_or("companion_finish before the code was typed")?;
        let bytes = |tag: &str| {
            finish.get_optional_child(tag).and_then(|n| n.content_bytes()).map(<[u8]>::to_vec)
        };
        let wrapped = bytes("link_code_pairing_wrapped_key_bundle").ok_or("no key bundle")?;
        let companion_identity: [u8; 32] = bytes("companion_identity_public")
            .and_then(|b| b.try_into().ok())
            .ok_or("no companion identity")?;
        if wrapped.len() < 32 + 12 + 16 {
            return Err("the key bundle is too short".into());
        }
        let agree = |mine: &KeyPair, theirs: &[u8; 32]| -> Result<[u8; 32], String> {
            let theirs = PublicKey::from_djb_public_key_bytes(theirs).map_err(|e| e.to_string())?;
            mine.private_key.calculate_agreement(&theirs).map_err(|e| e.to_string())
        };
        let ephemeral_shared = agree(ephemeral, companion)?;
        let (salt, rest) = wrapped.split_at(32);
        let (iv, sealed) = rest.split_at(12);
        let mut key = [0u8; 32];
        hkdf_sha256_into(
            &ephemeral_shared,
            Some(salt),
            b"link_code_pairing_key_bundle_encryption_key",
            &mut key,
        )
        .map_err(|e| e.to_string())?;
        let mut bundle = Vec::new();
        let iv: [u8; 12] = iv.try_into().expect("12 bytes");
        aes_256_gcm_decrypt(&key, &iv, b"", sealed, &mut bundle).map_err(|e| e.to_string())?;
        let random = bundle.get(64..96).ok_or("the key bundle is too short")?;
        let identity_shared = agree(identity, &companion_identity)?;
        let mut secret = ephemeral_shared.to_vec();
        secret.extend_from_slice(&identity_shared);
        secret.extend_from_slice(random);
        let mut adv_secret = [0u8; 32];
        hkdf_sha256_into(&secret, None, b"adv_secret", &mut adv_secret)
            .map_err(|e| e.to_string())?;
        Ok((companion_identity, adv_secret.to_vec()))
    }
}
