//! One connection, from the server's side: the handshake, then either pairing (a new device
//! offered QR references) or a login (a linked device accepted or refused), then stanzas
//! until either side hangs up.

use std::sync::Arc;

use tokio::{sync::mpsc, time::Instant};
use whatsapp_rust::wacore_binary::{Jid, Node, builder::NodeBuilder};

use crate::{
    Cue, Refusal, Seen, Shared, answers,
    handshake::{self, Established},
    lid_of,
    pipe::DoubleEnd,
    register,
    wire::{Ciphers, Frames},
};

/// QR references offered to a new device (as WhatsApp does: the client rotates through them).
const QR_REFERENCES: usize = 6;

/// Serves one connection until it ends.
pub(crate) async fn serve(shared: Arc<Shared>, end: DoubleEnd) {
    let mut frames = Frames::new(end);
    let established = match handshake::respond(&shared.identity, &mut frames).await {
        Ok(established) => established,
        Err(e) => {
            tracing::debug!(error = %e, "WhatsApp double: handshake failed");
            frames.hang_up().await;
            shared.record(Seen::Closed { jid: None });
            return;
        }
    };
    let (cues_tx, cues) = mpsc::unbounded_channel();
    let id = {
        let mut state = shared.state();
        state.next_connection += 1;
        state.next_connection
    };
    let pairing = established.payload.device_pairing_data.is_set();
    let mut conversation = Conversation {
        shared: shared.clone(),
        frames,
        ciphers: established.ciphers,
        cues,
        cues_tx,
        id,
        jid: None,
        silent: false,
        offline_due: None,
    };
    let Established { client_static, payload, pattern, .. } = established;
    if pairing {
        conversation.pair(client_static).await;
    } else {
        let user = payload.username.map(|u| u.to_string()).unwrap_or_default();
        let device = payload.device.and_then(|d| u16::try_from(d).ok()).unwrap_or_default();
        let jid = Jid::pn_device(user, device);
        let login_counter = payload.lc.and_then(|lc| u32::try_from(lc).ok()).unwrap_or_default();
        conversation.login(jid, client_static, login_counter, pattern).await;
    }
    conversation.end().await;
}

/// How a conversation goes on after a stanza or a cue.
enum Next {
    Continue,
    End,
}

struct Conversation {
    shared: Arc<Shared>,
    frames: Frames,
    ciphers: Ciphers,
    cues: mpsc::UnboundedReceiver<Cue>,
    cues_tx: mpsc::UnboundedSender<Cue>,
    id: u64,
    jid: Option<Jid>,
    /// Half-open: the socket stays, nothing is read or answered.
    silent: bool,
    /// When the end of the offline backlog is due.
    offline_due: Option<Instant>,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Conversation {
    async fn send(&mut self, node: &Node) -> bool {
        let sealed = self.ciphers.seal(node);
        self.frames.send(&sealed).await
    }

    /// A new device: offer QR references, wait for the phone to scan one, link the device,
    /// and end the stream with 515 so it logs in anew (as WhatsApp does).
    async fn pair(&mut self, noise: [u8; 32]) {
        let references: Vec<String> =
            (0..QR_REFERENCES).map(|_| format!("2@{:032x}", rand::random::<u128>())).collect();
        {
            let mut state = self.shared.state();
            for reference in &references {
                state.pairing.insert(reference.clone(), self.cues_tx.clone());
            }
        }
        self.shared.record(Seen::Pairing);
        let offer = NodeBuilder::new("iq")
            .attr("from", "s.whatsapp.net")
            .attr("id", format!("pair-device-{}", self.id))
            .attr("type", "set")
            .attr("xmlns", "md")
            .children([NodeBuilder::new("pair-device")
                .children(
                    references
                        .iter()
                        .map(|r| NodeBuilder::new("ref").bytes(r.as_bytes().to_vec()).build()),
                )
                .build()])
            .build();
        let mut linked: Option<Jid> = None;
        if self.send(&offer).await {
            loop {
                tokio::select! {
                    frame = self.frames.next() => {
                        let Ok(frame) = frame else { break };
                        let Ok(node) = self.ciphers.open(frame) else { break };
                        let signed = node.tag == "iq"
                            && node.get_optional_child("pair-device-sign").is_some();
                        if let (true, Some(jid)) = (signed, linked.clone()) {
                            self.shared.record(Seen::Paired { jid });
                            let restart = stream_error("515");
                            self.send(&restart).await;
                            break;
                        }
                    }
                    cue = self.cues.recv() => match cue {
                        Some(Cue::Scanned(scan)) => {
                            let jid = register(&self.shared, &scan.phone, noise);
                            let lid = lid_of(&mut self.shared.state(), &jid);
                            let success = scan.pair_success(&format!("pair-success-{}", self.id), &jid, &lid);
                            linked = Some(jid);
                            if !self.send(&success).await {
                                break;
                            }
                        }
                        Some(Cue::Drop) | None => break,
                        Some(_) => {}
                    },
                }
            }
        }
        let mut state = self.shared.state();
        for reference in &references {
            state.pairing.remove(reference);
        }
    }

    /// A linked device logs in: accepted, or refused as the account's script says.
    async fn login(
        &mut self,
        jid: Jid,
        noise: [u8; 32],
        login_counter: u32,
        pattern: handshake::Pattern,
    ) {
        let refusal = {
            let state = self.shared.state();
            let account = state.accounts.get(jid.user.as_str());
            match account.and_then(|a| a.devices.get(&jid.device)) {
                // An unknown device, or a known one with other keys, is not linked.
                Some(device) if device.noise == noise => account.and_then(|a| a.refusal),
                _ => Some(Refusal::LoggedOut),
            }
        };
        if let Some(refusal) = refusal {
            let mut failure = NodeBuilder::new("failure")
                .attr("reason", refusal.code().to_string())
                .attr("location", "double");
            if let Refusal::Banned { expires_in: Some(expires) } = refusal {
                failure = failure.attr("code", "101").attr("expire", expires.as_secs().to_string());
            }
            let failure = failure.build();
            self.send(&failure).await;
            self.shared.record(Seen::Refused { jid, reason: refusal.code() });
            return;
        }
        let lid = lid_of(&mut self.shared.state(), &jid);
        let success = NodeBuilder::new("success")
            .attr("t", unix_now().to_string())
            .attr("lid", lid)
            .attr("creation", "1700000000")
            .attr("display_name", "")
            .attr("location", "double")
            .build();
        if !self.send(&success).await {
            return;
        }
        self.jid = Some(jid.clone());
        self.shared
            .state()
            .live
            .entry(jid.user.to_string())
            .or_default()
            .push((self.id, self.cues_tx.clone()));
        self.shared.record(Seen::Login { jid, login_counter, pattern });
        self.stanzas().await;
    }

    /// Reads stanzas and cues until the connection ends.
    async fn stanzas(&mut self) {
        loop {
            let next = tokio::select! {
                frame = self.frames.read(self.silent) => match frame {
                    Ok(Some(frame)) => match self.ciphers.open(frame) {
                        Ok(node) => self.stanza(node).await,
                        Err(e) => {
                            tracing::warn!(error = %e, "WhatsApp double: unreadable frame");
                            Next::End
                        }
                    },
                    // Half-open: bytes arrive and go nowhere.
                    Ok(None) => Next::Continue,
                    Err(_) => Next::End,
                },
                cue = self.cues.recv() => match cue {
                    Some(cue) => self.cue(cue).await,
                    None => Next::End,
                },
                _ = sleep_until(self.offline_due), if !self.silent => {
                    self.offline_due = None;
                    let done = NodeBuilder::new("ib")
                        .children([NodeBuilder::new("offline").attr("count", "0").build()])
                        .build();
                    if self.send(&done).await { Next::Continue } else { Next::End }
                }
            };
            if let Next::End = next {
                return;
            }
        }
    }

    async fn stanza(&mut self, node: Node) -> Next {
        let jid = self.jid.clone().expect("stanzas are read once logged in");
        self.shared.record(Seen::Stanza { jid: jid.clone(), node: node.clone() });
        let answered = answers::answer(&self.shared, &jid, &node);
        if answered.went_active {
            let hold = self
                .shared
                .state()
                .accounts
                .get(jid.user.as_str())
                .map(|a| a.offline_hold)
                .unwrap_or_default();
            self.offline_due = Some(Instant::now() + hold);
        }
        for reply in answered.replies {
            if !self.send(&reply).await {
                return Next::End;
            }
        }
        Next::Continue
    }

    async fn cue(&mut self, cue: Cue) -> Next {
        match cue {
            Cue::Send(node) => {
                if self.send(&node).await {
                    return Next::Continue;
                }
            }
            Cue::StreamError(code) => {
                self.send(&stream_error(&code)).await;
            }
            Cue::Replaced => {
                let conflict = NodeBuilder::new("stream:error")
                    .children([NodeBuilder::new("conflict").attr("type", "replaced").build()])
                    .build();
                self.send(&conflict).await;
            }
            Cue::Drop => {}
            Cue::Silence => {
                self.silent = true;
                return Next::Continue;
            }
            Cue::Scanned(_) => return Next::Continue,
        }
        Next::End
    }

    async fn end(self) {
        if let Some(jid) = &self.jid {
            let mut state = self.shared.state();
            if let Some(live) = state.live.get_mut(jid.user.as_str()) {
                live.retain(|(id, _)| *id != self.id);
            }
        }
        self.frames.hang_up().await;
        self.shared.record(Seen::Closed { jid: self.jid });
    }
}

fn stream_error(code: &str) -> Node {
    NodeBuilder::new("stream:error").attr("code", code.to_owned()).build()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
