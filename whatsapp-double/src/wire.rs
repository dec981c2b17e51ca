//! Frames on the socket, and the encrypted binary nodes inside them once the handshake is
//! done: the same framing (3-byte length prefix), counters and node encoding the client uses.

use whatsapp_rust::{
    bytes::{Bytes, BytesMut},
    wacore::{
        framing::{FrameDecoder, encode_frame},
        noise::NoiseCipher,
    },
    wacore_binary::{Node, OwnedNodeRef, consts::WA_CONN_HEADER, marshal, util::unpack_bytes},
};

use crate::pipe::DoubleEnd;

/// Edge-routing pre-intro: `ED`, version 0.1, then a 3-byte length and that many bytes.
const EDGE_ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// Why the stream of frames cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The client closed its end.
    #[error("the client closed the connection")]
    Closed,
    /// The first bytes were not WhatsApp's connection header.
    #[error("the client did not open with WhatsApp's connection header")]
    BadHeader,
    /// A frame did not decrypt or decode.
    #[error("a frame could not be read: {0}")]
    BadFrame(String),
}

/// Reads whole frames from the client and writes frames back.
pub struct Frames {
    end: DoubleEnd,
    decoder: FrameDecoder,
    /// Bytes before the connection header has been seen.
    opening: Option<BytesMut>,
}

impl Frames {
    pub(crate) fn new(end: DoubleEnd) -> Frames {
        Frames { end, decoder: FrameDecoder::new(), opening: Some(BytesMut::new()) }
    }

    /// The next whole frame, waiting for more bytes as needed.
    pub async fn next(&mut self) -> Result<BytesMut, WireError> {
        loop {
            if self.opening.is_none()
                && let Some(frame) = self.decoder.decode_frame()
            {
                return Ok(frame);
            }
            let data = self.end.inbound.recv().await.ok_or(WireError::Closed)?;
            self.feed(&data)?;
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), WireError> {
        let Some(opening) = self.opening.as_mut() else {
            self.decoder.feed(data);
            return Ok(());
        };
        opening.extend_from_slice(data);
        let mut start = 0;
        if opening.starts_with(&EDGE_ROUTING_MAGIC) {
            if opening.len() < 7 {
                return Ok(());
            }
            let len = usize::from(opening[4]) << 16
                | usize::from(opening[5]) << 8
                | usize::from(opening[6]);
            start = 7 + len;
        }
        if opening.len() < start + WA_CONN_HEADER.len() {
            return Ok(());
        }
        if opening[start..start + WA_CONN_HEADER.len()] != WA_CONN_HEADER {
            return Err(WireError::BadHeader);
        }
        let rest = opening.split_off(start + WA_CONN_HEADER.len());
        self.opening = None;
        self.decoder.feed(&rest);
        Ok(())
    }

    /// Writes one frame; `false` once the client is gone.
    pub async fn send(&self, payload: &[u8]) -> bool {
        match encode_frame(payload, None) {
            Ok(framed) => self.end.send(Bytes::from(framed)).await,
            Err(_) => false,
        }
    }

    /// Closes the socket from the double's side.
    pub async fn hang_up(&self) {
        self.end.hang_up().await;
    }

    /// The next frame or, on a socket that stopped listening (`deaf`), the next bytes
    /// thrown away (`None`): a half-open socket still takes what is sent to it.
    pub(crate) async fn read(&mut self, deaf: bool) -> Result<Option<BytesMut>, WireError> {
        if deaf {
            return self.end.inbound.recv().await.map(|_| None).ok_or(WireError::Closed);
        }
        self.next().await.map(Some)
    }
}

/// The two ciphers of an established connection, with their counters.
pub struct Ciphers {
    read: NoiseCipher,
    write: NoiseCipher,
    read_counter: u32,
    write_counter: u32,
}

impl Ciphers {
    pub(crate) fn new(read: NoiseCipher, write: NoiseCipher) -> Ciphers {
        Ciphers { read, write, read_counter: 0, write_counter: 0 }
    }

    /// Decrypts and decodes one frame from the client.
    pub fn open(&mut self, mut frame: BytesMut) -> Result<Node, WireError> {
        self.read
            .decrypt_in_place_with_counter(self.read_counter, &mut frame)
            .map_err(|e| WireError::BadFrame(e.to_string()))?;
        self.read_counter += 1;
        let plain = unpack_bytes(frame).map_err(|e| WireError::BadFrame(e.to_string()))?;
        let node = OwnedNodeRef::new(plain).map_err(|e| WireError::BadFrame(e.to_string()))?;
        Ok(node.to_owned_node())
    }

    /// Encodes and encrypts one node for the client.
    pub fn seal(&mut self, node: &Node) -> Vec<u8> {
        let plain = marshal(node).expect("the double's own nodes encode");
        let sealed = self
            .write
            .encrypt_with_counter(self.write_counter, &plain)
            .expect("AES-GCM with a fixed key cannot fail");
        self.write_counter += 1;
        sealed
    }
}
