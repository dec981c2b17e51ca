//! The phone's part of linking a device: it reads the QR code a new device shows and vouches
//! for that device's identity key with the account's key, bound to the secret only the QR
//! code carried (what the client checks in `pair-success`).

use base64::{Engine as _, prelude::BASE64_STANDARD};
use buffa::Message;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use whatsapp_rust::{
    wacore::libsignal::protocol::KeyPair,
    wacore_binary::{Jid, Node, builder::NodeBuilder},
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

    /// `<pair-success>` for the device `jid`, signed by a fresh account key.
    pub fn pair_success(&self, id: &str, jid: &Jid, lid: &Jid) -> Node {
        let mut rng = rand::rng();
        let account = KeyPair::generate(&mut rng);
        let details = wa::ADVDeviceIdentity {
            raw_id: Some(rand::random()),
            timestamp: Some(chrono_now()),
            key_index: Some(u32::from(jid.device)),
            account_type: Some(ADVEncryptionType::E2EE),
            device_type: Some(ADVEncryptionType::E2EE),
        }
        .encode_to_vec();
        let mut signed = ADV_ACCOUNT_SIGNATURE_PREFIX.to_vec();
        signed.extend_from_slice(&details);
        signed.extend_from_slice(&self.identity);
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
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.adv_secret)
            .expect("HMAC takes keys of any length");
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
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
