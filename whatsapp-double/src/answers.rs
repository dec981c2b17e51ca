//! What the server answers to the stanzas a logged-in client sends: the requests of its
//! login sequence (pre-key count and upload, passive mode, key digest, device lists, key
//! bundles, pings) and the acknowledgement of sent messages. Anything else gets the error a
//! server gives for a feature it does not offer, so the client goes on as it would.

use whatsapp_rust::wacore_binary::{Jid, Node, NodeRef, builder::NodeBuilder};

use crate::{Shared, digits, keys};

/// The server's side of one stanza.
#[derive(Default)]
pub(crate) struct Answered {
    /// What to send back, in order.
    pub replies: Vec<Node>,
    /// The client left passive mode: its offline backlog is due.
    pub went_active: bool,
}

fn attr(node: &NodeRef<'_>, name: &str) -> Option<String> {
    node.get_attr(name).map(|v| v.as_str().into_owned())
}

fn result(id: &str, children: Vec<Node>) -> Node {
    let iq = NodeBuilder::new("iq").attr("from", "s.whatsapp.net").attr("id", id.to_owned());
    let iq = iq.attr("type", "result");
    if children.is_empty() { iq.build() } else { iq.children(children).build() }
}

fn error(id: &str, code: u16, text: &str) -> Node {
    NodeBuilder::new("iq")
        .attr("from", "s.whatsapp.net")
        .attr("id", id.to_owned())
        .attr("type", "error")
        .children([NodeBuilder::new("error")
            .attr("code", code.to_string())
            .attr("text", text.to_owned())
            .build()])
        .build()
}

/// Answers `node`, sent by the logged-in device `jid`.
pub(crate) fn answer(shared: &Shared, jid: &Jid, node: &Node) -> Answered {
    let stanza = node.as_node_ref();
    match node.tag.as_ref() {
        "iq" => iq(shared, jid, &stanza),
        "message" => {
            let mut answered = Answered::default();
            if let (Some(id), Some(to)) = (attr(&stanza, "id"), attr(&stanza, "to")) {
                answered.replies.push(
                    NodeBuilder::new("ack")
                        .attr("class", "message")
                        .attr("id", id)
                        .attr("from", to)
                        .attr("t", crate::unix_now().to_string())
                        .build(),
                );
            }
            answered
        }
        _ => Answered::default(),
    }
}

fn iq(shared: &Shared, jid: &Jid, iq: &NodeRef<'_>) -> Answered {
    let mut answered = Answered::default();
    let Some(id) = attr(iq, "id") else { return answered };
    let kind = attr(iq, "type").unwrap_or_default();
    if kind == "result" || kind == "error" {
        return answered;
    }
    let xmlns = attr(iq, "xmlns").unwrap_or_default();
    let child =
        iq.children().and_then(|c| c.first()).map(|c| c.tag.to_string()).unwrap_or_default();
    let reply = match (xmlns.as_str(), child.as_str()) {
        ("w:p", _) | ("urn:xmpp:ping", _) => result(&id, Vec::new()),
        ("passive", tag) => {
            answered.went_active = tag == "active";
            result(&id, Vec::new())
        }
        ("encrypt", "count") => {
            let count = with_device(shared, jid, |d| d.prekeys.as_ref().map_or(0, |p| p.count()));
            let node = NodeBuilder::new("count").attr("value", count.to_string()).build();
            result(&id, vec![node])
        }
        ("encrypt", "digest") => {
            match with_device(shared, jid, |d| d.prekeys.as_ref().map(|p| p.digest())) {
                Some(digest) => result(&id, vec![digest]),
                None => error(&id, 404, "item-not-found"),
            }
        }
        ("encrypt", "key") => result(&id, vec![bundles(shared, iq)]),
        ("encrypt", _) if keys::Uploaded::read(iq).is_some() => {
            let upload = keys::Uploaded::read(iq).expect("just read");
            with_device(shared, jid, move |d| match d.prekeys.as_mut() {
                Some(held) => held.extend(upload),
                None => d.prekeys = Some(upload),
            });
            result(&id, Vec::new())
        }
        ("encrypt", "rotate") => result(&id, Vec::new()),
        ("usync", _) => result(&id, vec![device_lists(shared, iq)]),
        ("md", "remove-companion-device") => {
            // The device unlinks itself: later logins with it are refused.
            let mut state = shared.state();
            if let Some(account) = state.accounts.get_mut(jid.user.as_str()) {
                account.devices.remove(&jid.device);
            }
            result(&id, Vec::new())
        }
        ("w:sync:app:state", "sync") => result(&id, vec![app_state(iq)]),
        ("blocklist", _) => result(&id, vec![NodeBuilder::new("list").build()]),
        ("privacy", _) => result(&id, vec![NodeBuilder::new("privacy").build()]),
        _ => {
            tracing::debug!(xmlns, child, "WhatsApp double: no answer for this request");
            error(&id, 501, "feature-not-implemented")
        }
    };
    answered.replies.push(reply);
    answered
}

/// Runs `f` on the registered record of device `jid` (a default when it has none).
fn with_device<R: Default>(
    shared: &Shared,
    jid: &Jid,
    f: impl FnOnce(&mut crate::DeviceRecord) -> R,
) -> R {
    let mut state = shared.state();
    state
        .accounts
        .get_mut(jid.user.as_str())
        .and_then(|a| a.devices.get_mut(&jid.device))
        .map(f)
        .unwrap_or_default()
}

/// `<list>` of key bundles for the `<user jid>`s asked for: a linked device's uploaded keys,
/// or the keys of a device the double plays (made on first request).
fn bundles(shared: &Shared, iq: &NodeRef<'_>) -> Node {
    let mut state = shared.state();
    let mut users = Vec::new();
    let wanted = iq.get_optional_child("key").and_then(|k| k.children()).unwrap_or_default();
    for user in wanted {
        let Some(jid) = user.get_attr("jid").and_then(|j| j.to_jid()) else { continue };
        let uploaded = state
            .accounts
            .get_mut(jid.user.as_str())
            .and_then(|a| a.devices.get_mut(&jid.device))
            .and_then(|d| d.prekeys.as_mut())
            .map(|p| p.take_bundle(&jid));
        let bundle = match uploaded {
            Some(bundle) => bundle,
            None => state
                .bundles
                .entry(jid.to_string())
                .or_insert_with(keys::Device::generate)
                .bundle(&jid),
        };
        users.push(bundle);
    }
    NodeBuilder::new("list").children(users).build()
}

/// `<sync>` for the app-state collections asked for: each at its version, with nothing new
/// (an account whose settings never changed).
fn app_state(iq: &NodeRef<'_>) -> Node {
    let asked = iq.get_optional_child("sync").and_then(|s| s.children()).unwrap_or_default();
    let collections = asked.iter().filter_map(|c| {
        let name = attr(c, "name")?;
        let version = attr(c, "version").unwrap_or_else(|| "0".into());
        Some(NodeBuilder::new("collection").attr("name", name).attr("version", version).build())
    });
    NodeBuilder::new("sync").children(collections).build()
}

/// `<usync>` with each asked-for user's devices: the phone (device 0) and, for accounts the
/// double holds, their linked devices; and the LID when asked.
fn device_lists(shared: &Shared, iq: &NodeRef<'_>) -> Node {
    let usync = iq.get_optional_child("usync");
    let wants_lid = usync
        .and_then(|u| u.get_optional_child("query"))
        .is_some_and(|q| q.get_optional_child("lid").is_some());
    let asked = usync
        .and_then(|u| u.get_optional_child("list"))
        .and_then(|l| l.children())
        .unwrap_or_default();
    let mut state = shared.state();
    let mut users = Vec::new();
    for user in asked {
        let jid = match user.get_attr("jid").and_then(|j| j.to_jid()) {
            Some(jid) => jid,
            None => match user.get_optional_child("contact").and_then(|c| c.content_str()) {
                Some(number) => Jid::pn(digits(number)),
                None => continue,
            },
        };
        let mut devices = vec![0u16];
        if let Some(account) = state.accounts.get(jid.user.as_str()) {
            devices.extend(account.devices.keys().copied());
        }
        let mut children = vec![
            NodeBuilder::new("contact").attr("type", "in").build(),
            NodeBuilder::new("devices")
                .attr("version", "2")
                .children([NodeBuilder::new("device-list")
                    .children(
                        devices
                            .iter()
                            .map(|d| NodeBuilder::new("device").attr("id", d.to_string()).build()),
                    )
                    .build()])
                .build(),
        ];
        if wants_lid && jid.is_pn() {
            let lid = crate::lid_of(&mut state, &jid.to_non_ad());
            children.push(NodeBuilder::new("lid").attr("val", lid.to_non_ad()).build());
        }
        users
            .push(NodeBuilder::new("user").attr("jid", jid.to_non_ad()).children(children).build());
    }
    NodeBuilder::new("usync").children([NodeBuilder::new("list").children(users).build()]).build()
}
