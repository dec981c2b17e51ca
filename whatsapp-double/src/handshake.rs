//! The responder's side of WhatsApp's Noise handshake: XX for new devices and devices without
//! this server's key, IK for devices that cached it from an earlier connection.
//!
//! The certificate chain (built by `wacore-noise`'s test utilities) has the right shape and
//! its leaf is this server's static key, which the client checks; it cannot carry WhatsApp's
//! root signature, so clients talking to the double are built with
//! `danger-skip-cert-chain-verify` (see the workspace manifest).

use buffa::Message;
use whatsapp_rust::{
    wacore::{
        handshake::NoiseHandshake, libsignal::protocol::KeyPair,
        noise::test_util::build_cert_chain_bytes,
    },
    wacore_binary::consts::{NOISE_PATTERN_IK, NOISE_PATTERN_XX, WA_CONN_HEADER},
    waproto::whatsapp as wa,
};

use crate::wire::{Ciphers, Frames, WireError};

/// Which Noise pattern a connection used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Full handshake: the client learnt the server's key during it.
    Xx,
    /// Resumed: the client already knew the server's key (it kept the certificate chain).
    Ik,
}

/// The server's long-lived identity.
pub struct ServerIdentity {
    keys: KeyPair,
    cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub(crate) fn generate() -> ServerIdentity {
        let keys = KeyPair::generate(&mut rand::rng());
        let cert_chain = build_cert_chain_bytes(&public(&keys));
        ServerIdentity { keys, cert_chain }
    }
}

fn public(keys: &KeyPair) -> [u8; 32] {
    keys.public_key.public_key_bytes().try_into().expect("X25519 public keys are 32 bytes")
}

/// What a finished handshake yields.
pub struct Established {
    /// The connection's ciphers, server side.
    pub ciphers: Ciphers,
    /// The client's static Noise key (a device's identity on the socket).
    pub client_static: [u8; 32],
    /// What the client said it is: a login or a registration.
    pub payload: wa::ClientPayload,
    /// How the handshake went.
    pub pattern: Pattern,
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The socket failed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The client's messages were not a valid handshake.
    #[error("invalid handshake: {0}")]
    Invalid(String),
}

fn invalid(what: impl std::fmt::Display) -> HandshakeError {
    HandshakeError::Invalid(what.to_string())
}

fn key32(bytes: Option<Vec<u8>>, what: &str) -> Result<[u8; 32], HandshakeError> {
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid(format!("{what} is not a 32-byte key")))
}

/// Runs the server's side of the handshake on `frames`.
pub async fn respond(
    identity: &ServerIdentity,
    frames: &mut Frames,
) -> Result<Established, HandshakeError> {
    let hello = frames.next().await?;
    let hello = wa::HandshakeMessage::decode_from_slice(&hello).map_err(invalid)?;
    let hello = hello.client_hello.into_option().ok_or_else(|| invalid("no client hello"))?;
    let client_ephemeral = key32(hello.ephemeral, "the client's ephemeral")?;
    match (hello.r#static, hello.payload) {
        (Some(sealed_static), Some(sealed_payload)) => {
            resume(identity, frames, client_ephemeral, &sealed_static, &sealed_payload).await
        }
        _ => full(identity, frames, client_ephemeral).await,
    }
}

/// `-> e`, `<- e, ee, s, es`, `-> s, se`.
async fn full(
    identity: &ServerIdentity,
    frames: &mut Frames,
    client_ephemeral: [u8; 32],
) -> Result<Established, HandshakeError> {
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_XX, &WA_CONN_HEADER).map_err(invalid)?;
    noise.authenticate(&client_ephemeral);
    let (ephemeral, ephemeral_public) = send_ephemeral(&mut noise, &client_ephemeral)?;
    let sealed_static = noise.encrypt(&public(&identity.keys)).map_err(invalid)?;
    noise
        .mix_shared_secret(identity.keys.private_key.serialize(), &client_ephemeral)
        .map_err(invalid)?;
    let sealed_chain = noise.encrypt(&identity.cert_chain).map_err(invalid)?;
    send_server_hello(frames, ephemeral_public, Some(sealed_static), sealed_chain).await?;

    let finish = frames.next().await?;
    let finish = wa::HandshakeMessage::decode_from_slice(&finish).map_err(invalid)?;
    let finish = finish.client_finish.into_option().ok_or_else(|| invalid("no client finish"))?;
    let sealed_static = finish.r#static.ok_or_else(|| invalid("no static key"))?;
    let client_static = key32(Some(noise.decrypt(&sealed_static).map_err(invalid)?), "static")?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static).map_err(invalid)?;
    let payload = noise.decrypt(&finish.payload.unwrap_or_default()).map_err(invalid)?;
    let payload = wa::ClientPayload::decode_from_slice(&payload).map_err(invalid)?;
    let (client_write, client_read) = noise.finish().map_err(invalid)?;
    Ok(Established {
        ciphers: Ciphers::new(client_write, client_read),
        client_static,
        payload,
        pattern: Pattern::Xx,
    })
}

/// The server's `e, ee` tokens: a fresh ephemeral key, mixed with the client's.
fn send_ephemeral(
    noise: &mut NoiseHandshake,
    client_ephemeral: &[u8; 32],
) -> Result<(KeyPair, [u8; 32]), HandshakeError> {
    let ephemeral = KeyPair::generate(&mut rand::rng());
    let ephemeral_public = public(&ephemeral);
    noise.authenticate(&ephemeral_public);
    noise
        .mix_shared_secret(ephemeral.private_key.serialize(), client_ephemeral)
        .map_err(invalid)?;
    Ok((ephemeral, ephemeral_public))
}

/// `<- s` known; `-> e, es, s, ss` (with the login), `<- e, ee, se`.
async fn resume(
    identity: &ServerIdentity,
    frames: &mut Frames,
    client_ephemeral: [u8; 32],
    sealed_static: &[u8],
    sealed_payload: &[u8],
) -> Result<Established, HandshakeError> {
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER).map_err(invalid)?;
    noise.authenticate(&public(&identity.keys));
    noise.authenticate(&client_ephemeral);
    noise
        .mix_shared_secret(identity.keys.private_key.serialize(), &client_ephemeral)
        .map_err(invalid)?;
    // A client that cached another server's key fails here: it clears its cache and comes
    // back with a full handshake, as against WhatsApp after a key rotation.
    let client_static = key32(Some(noise.decrypt(sealed_static).map_err(invalid)?), "static")?;
    noise
        .mix_shared_secret(identity.keys.private_key.serialize(), &client_static)
        .map_err(invalid)?;
    let payload = noise.decrypt(sealed_payload).map_err(invalid)?;
    let payload = wa::ClientPayload::decode_from_slice(&payload).map_err(invalid)?;

    let (ephemeral, ephemeral_public) = send_ephemeral(&mut noise, &client_ephemeral)?;
    noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_static).map_err(invalid)?;
    let sealed_chain = noise.encrypt(&identity.cert_chain).map_err(invalid)?;
    send_server_hello(frames, ephemeral_public, None, sealed_chain).await?;
    let (client_write, client_read) = noise.finish().map_err(invalid)?;
    Ok(Established {
        ciphers: Ciphers::new(client_write, client_read),
        client_static,
        payload,
        pattern: Pattern::Ik,
    })
}

async fn send_server_hello(
    frames: &Frames,
    ephemeral: [u8; 32],
    sealed_static: Option<Vec<u8>>,
    sealed_chain: Vec<u8>,
) -> Result<(), HandshakeError> {
    let hello = wa::HandshakeMessage {
        server_hello: buffa::MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(ephemeral.to_vec()),
            r#static: sealed_static,
            payload: Some(sealed_chain),
            ..Default::default()
        }),
        ..Default::default()
    };
    if frames.send(&hello.encode_to_vec()).await { Ok(()) } else { Err(WireError::Closed.into()) }
}
