//! Signal key bundles: the ones clients upload (pre-keys of a linked device), and the ones
//! the double hands out for the devices it plays itself (the account's phone, contacts), so
//! a client can open a session to them and send.

use sha1::{Digest, Sha1};
use whatsapp_rust::{
    wacore::libsignal::protocol::KeyPair,
    wacore_binary::{Jid, Node, NodeRef, builder::NodeBuilder},
};

/// What a client uploaded in `<iq xmlns="encrypt" type="set">`.
#[derive(Clone, Debug, Default)]
pub struct Uploaded {
    registration: Vec<u8>,
    identity: Vec<u8>,
    signed_id: Vec<u8>,
    signed: Vec<u8>,
    signature: Vec<u8>,
    prekeys: Vec<(Vec<u8>, Vec<u8>)>,
}

fn bytes_of(node: &NodeRef<'_>, tag: &str) -> Vec<u8> {
    node.get_optional_child(tag).and_then(|n| n.content_bytes()).unwrap_or_default().to_vec()
}

impl Uploaded {
    /// Reads an upload; `None` when it is not one.
    pub fn read(iq: &NodeRef<'_>) -> Option<Uploaded> {
        iq.get_optional_child("registration")?;
        let skey = iq.get_optional_child("skey")?;
        let prekeys = iq
            .get_optional_child("list")
            .and_then(|l| l.children())
            .unwrap_or_default()
            .iter()
            .map(|key| (bytes_of(key, "id"), bytes_of(key, "value")))
            .collect();
        Some(Uploaded {
            registration: bytes_of(iq, "registration"),
            identity: bytes_of(iq, "identity"),
            signed_id: bytes_of(skey, "id"),
            signed: bytes_of(skey, "value"),
            signature: bytes_of(skey, "signature"),
            prekeys,
        })
    }

    /// Adds a later upload's one-time keys (the identity and signed key stay).
    pub fn extend(&mut self, later: Uploaded) {
        self.prekeys.extend(later.prekeys);
        if !later.signed.is_empty() {
            self.signed_id = later.signed_id;
            self.signed = later.signed;
            self.signature = later.signature;
        }
    }

    /// How many one-time keys the server holds.
    pub fn count(&self) -> usize {
        self.prekeys.len()
    }

    /// `<digest>`: what the server holds, and the SHA-1 the client checks it against.
    pub fn digest(&self) -> Node {
        let mut hash = Sha1::new();
        hash.update(&self.identity);
        hash.update(&self.signed);
        hash.update(&self.signature);
        for (_, value) in &self.prekeys {
            hash.update(value);
        }
        NodeBuilder::new("digest")
            .children([
                NodeBuilder::new("registration").bytes(self.registration.clone()).build(),
                NodeBuilder::new("type").bytes(vec![5]).build(),
                NodeBuilder::new("identity").bytes(self.identity.clone()).build(),
                NodeBuilder::new("skey")
                    .children([
                        NodeBuilder::new("id").bytes(self.signed_id.clone()).build(),
                        NodeBuilder::new("value").bytes(self.signed.clone()).build(),
                        NodeBuilder::new("signature").bytes(self.signature.clone()).build(),
                    ])
                    .build(),
                NodeBuilder::new("list")
                    .children(
                        self.prekeys
                            .iter()
                            .map(|(id, _)| NodeBuilder::new("id").bytes(id.clone()).build()),
                    )
                    .build(),
                NodeBuilder::new("hash").bytes(hash.finalize().to_vec()).build(),
            ])
            .build()
    }

    /// The bundle a sender gets for this device (one one-time key, handed out once).
    pub fn take_bundle(&mut self, jid: &Jid) -> Node {
        let mut children = vec![
            NodeBuilder::new("registration").bytes(self.registration.clone()).build(),
            NodeBuilder::new("type").bytes(vec![5]).build(),
            NodeBuilder::new("identity").bytes(self.identity.clone()).build(),
        ];
        if let Some((id, value)) = self.prekeys.pop() {
            children.push(key_node("key", id, value, None));
        }
        children.push(key_node(
            "skey",
            self.signed_id.clone(),
            self.signed.clone(),
            Some(self.signature.clone()),
        ));
        NodeBuilder::new("user").attr("jid", jid.clone()).children(children).build()
    }
}

fn key_node(tag: &'static str, id: Vec<u8>, value: Vec<u8>, signature: Option<Vec<u8>>) -> Node {
    let mut children = vec![
        NodeBuilder::new("id").bytes(id).build(),
        NodeBuilder::new("value").bytes(value).build(),
    ];
    if let Some(signature) = signature {
        children.push(NodeBuilder::new("signature").bytes(signature).build());
    }
    NodeBuilder::new(tag).children(children).build()
}

fn id3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

/// A device the double plays (a phone, a contact): its keys, private halves included.
pub struct Device {
    registration_id: u32,
    identity: KeyPair,
    signed: KeyPair,
    signature: Vec<u8>,
    one_time: KeyPair,
}

impl Device {
    /// A device with fresh keys.
    pub fn generate() -> Device {
        let mut rng = rand::rng();
        let identity = KeyPair::generate(&mut rng);
        let signed = KeyPair::generate(&mut rng);
        let signature = identity
            .private_key
            .calculate_signature(&signed.public_key.serialize(), &mut rng)
            .expect("signing with a fresh key works")
            .to_vec();
        Device {
            registration_id: rand::random::<u32>() & 0x3fff,
            identity,
            signed,
            signature,
            one_time: KeyPair::generate(&mut rng),
        }
    }

    /// This device's bundle, as the server hands it out.
    pub fn bundle(&self, jid: &Jid) -> Node {
        NodeBuilder::new("user")
            .attr("jid", jid.clone())
            .children([
                NodeBuilder::new("registration")
                    .bytes(self.registration_id.to_be_bytes().to_vec())
                    .build(),
                NodeBuilder::new("type").bytes(vec![5]).build(),
                NodeBuilder::new("identity")
                    .bytes(self.identity.public_key.public_key_bytes().to_vec())
                    .build(),
                key_node("key", id3(1), self.one_time.public_key.public_key_bytes().to_vec(), None),
                key_node(
                    "skey",
                    id3(1),
                    self.signed.public_key.public_key_bytes().to_vec(),
                    Some(self.signature.clone()),
                ),
            ])
            .build()
    }
}
