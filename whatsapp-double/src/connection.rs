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
    phone::{self, PhoneCode},
    pipe::DoubleEnd,
    register,
    wire::{Ciphers, Frames},
};

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

    /// A new device: offer QR references (and a phone code when it asks for one), wait for
    /// the phone to scan one or take the code, link the device, and end the stream with 515
    /// so it logs in anew (as WhatsApp does).
    async fn pair(&mut self, noise: [u8; 32]) {
        let count = self.shared.state().qr_references;
        let references: Vec<String> =
            (0..count).map(|_| format!("2@{:032x}", rand::random::<u128>())).collect();
        {
            let mut state = self.shared.state();
            for reference in &references {
                state.pairing.insert(reference.clone(), self.cues_tx.clone());
            }
        }
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
        // Without references the offer waits for the phone-code request, so that the codes
        // run out while a phone code is live.
        let mut offer = Some(offer);
        if count > 0 && !self.offer(&mut offer).await {
            return;
        }
        let mut code: Option<PhoneCode> = None;
        let mut linked: Option<Jid> = None;
        loop {
            tokio::select! {
                frame = self.frames.next() => {
                    let Ok(frame) = frame else { break };
                    let Ok(node) = self.ciphers.open(frame) else { break };
                    let stanza = node.as_node_ref();
                    if stanza.get_optional_child("pair-device-sign").is_some() {
                        if let Some(jid) = linked.clone() {
                            self.shared.record(Seen::Paired { jid });
                            self.send(&stream_error("515")).await;
                            break;
                        }
                        continue;
                    }
                    let Some(request) = stanza.get_optional_child("link_code_companion_reg") else {
                        continue;
                    };
                    let id = stanza.get_attr("id").map(|v| v.as_str().into_owned()).unwrap_or_default();
                    match request.get_attr("stage").map(|v| v.as_str().into_owned()).as_deref() {
                        Some("companion_hello") => {
                            let Some(asked) = PhoneCode::requested(request) else { continue };
                            let answer = result_with(&id, NodeBuilder::new("link_code_companion_reg")
                                .children([NodeBuilder::new("link_code_pairing_ref")
                                    .bytes(asked.reference.clone())
                                    .build()])
                                .build());
                            self.shared.state().phone_codes.insert(asked.phone.clone(), self.cues_tx.clone());
                            self.shared.record(Seen::PhoneCodeRequested { phone: asked.phone.clone() });
                            code = Some(asked);
                            if !self.send(&answer).await {
                                break;
                            }
                            if !self.offer(&mut offer).await {
                                break;
                            }
                        }
                        Some("companion_finish") => {
                            let Some(flow) = &code else { continue };
                            match flow.finished(request) {
                                Ok((identity, secret)) => {
                                    let jid = register(&self.shared, &flow.phone, noise);
                                    let lid = lid_of(&mut self.shared.state(), &jid);
                                    let success = phone::pair_success(
                                        &identity, &secret, &format!("pair-success-{}", self.id), &jid, &lid,
                                    );
                                    linked = Some(jid);
                                    if !self.send(&result_with(&id, None)).await || !self.send(&success).await {
                                        break;
                                    }
                                }
                                Err(e) => tracing::warn!(error = %e, "WhatsApp double: a phone-code pairing failed"),
                            }
                        }
                        _ => {}
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
                    Some(Cue::CodeTyped(typed)) => {
                        let Some(flow) = code.as_mut() else { continue };
                        match flow.typed(&typed) {
                            Ok(hello) => {
                                if !self.send(&hello).await {
                                    break;
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "WhatsApp double: a typed code does not fit"),
                        }
                    }
                    Some(Cue::RetireCode) => {
                        if let Some(refresh) = code.as_ref().map(PhoneCode::refresh)
                            && !self.send(&refresh).await
                        {
                            break;
                        }
                    }
                    Some(Cue::Drop) | None => break,
                    Some(_) => {}
                },
            }
        }
        let mut state = self.shared.state();
        for reference in &references {
            state.pairing.remove(reference);
        }
        if let Some(flow) = &code {
            state.phone_codes.remove(&flow.phone);
        }
    }

    /// Sends the QR offer if it has not gone yet; `false` once the client is gone.
    async fn offer(&mut self, offer: &mut Option<Node>) -> bool {
        let Some(offer) = offer.take() else { return true };
        self.shared.record(Seen::Pairing);
        self.send(&offer).await
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
            .attr("t", crate::unix_now().to_string())
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
            Cue::Scanned(_) | Cue::CodeTyped(_) | Cue::RetireCode => return Next::Continue,
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

/// `<iq type="result">` answering `id`, with `child` when given.
fn result_with(id: &str, child: impl Into<Option<Node>>) -> Node {
    let iq = NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", id.to_owned())
        .attr("type", "result");
    match child.into() {
        Some(child) => iq.children([child]).build(),
        None => iq.build(),
    }
}

fn stream_error(code: &str) -> Node {
    NodeBuilder::new("stream:error").attr("code", code.to_owned()).build()
}
