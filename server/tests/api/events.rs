//! `/ws`, the event channel, with a real WebSocket client.

use std::time::Duration;

use app::model::{
    Envelope, Event,
    ws::{Control, ServerFrame, close},
};
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use server::events::WsLimits;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{self, Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

use app::functions::ChangePassword;
use leptos::server_fn::ServerFn;

use crate::helpers::{ADMIN_PASSWORD, API_KEY, TestApp, TestOptions, spawn_app, spawn_app_with};

/// A password the tests change to.
const NEW_PASSWORD: &str = "a much better password";

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the server closed `ws`, skipping what it sent before.
async fn ended(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        if let Err(code) = next(ws).await {
            return code;
        }
    }
}

/// A handshake to `/ws` with the given extra headers.
pub(crate) async fn handshake(
    app: &TestApp,
    headers: &[(&str, &str)],
) -> Result<Ws, tungstenite::Error> {
    let mut request = format!("ws://{}/ws", app.addr).into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    connect_async(request).await.map(|(ws, _)| ws)
}

pub(crate) async fn connect(app: &TestApp) -> Ws {
    handshake(app, &[("x-api-key", API_KEY)]).await.expect("handshake failed")
}

/// The next frame the server sends (control messages of the transport skipped). The bound
/// only turns a hang into a failure.
async fn next(ws: &mut Ws) -> Result<ServerFrame, Option<CloseCode>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no frame within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(ServerFrame::from_json(&text).unwrap_or_else(|e| panic!("{e}: {text}")));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

pub(crate) async fn snapshot(ws: &mut Ws) -> (u64, usize) {
    match next(ws).await {
        Ok(ServerFrame::Control(Control::Snapshot { seq, sessions, .. })) => (seq, sessions.len()),
        other => panic!("the first frame was not a snapshot: {other:?}"),
    }
}

async fn event(ws: &mut Ws) -> Envelope {
    match next(ws).await {
        Ok(ServerFrame::Event(e)) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn snapshot_first_then_every_event_in_order() {
    let app = spawn_app().await;
    let existing = app.paired_session("Before").await;
    let mut ws = connect(&app).await;
    let (seq, sessions) = snapshot(&mut ws).await;
    assert_eq!(sessions, 1);
    assert!(seq > 0, "the earlier session's events are before the snapshot");

    let id = app.paired_session("After").await;
    let mut last = seq;
    let mut statuses = Vec::new();
    while !statuses.iter().any(|s: &String| s == "connected") {
        let e = event(&mut ws).await;
        assert_eq!(e.seq, last + 1, "events must arrive in order without gaps");
        last = e.seq;
        match e.event {
            Event::SessionStatus { session } if session.id == id => {
                statuses.push(session.status.to_string())
            }
            Event::Qr { session_id, .. } => assert_eq!(session_id, id),
            Event::SessionStatus { session } => assert_ne!(session.id, existing),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(statuses, ["connecting", "qr_pending", "connected"]);
    app.stop().await;
}

#[tokio::test]
async fn ping_is_answered_and_bad_frames_get_an_error_not_a_close() {
    let app = spawn_app().await;
    let mut ws = connect(&app).await;
    snapshot(&mut ws).await;
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next(&mut ws).await, Ok(ServerFrame::Control(Control::Pong)));
    for bad in [
        Message::text("hello"),
        Message::text(r#"{"type":"shout"}"#),
        Message::binary(vec![1, 2, 3]),
    ] {
        ws.send(bad).await.unwrap();
        match next(&mut ws).await {
            Ok(ServerFrame::Control(Control::Error { message })) => assert!(!message.is_empty()),
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next(&mut ws).await, Ok(ServerFrame::Control(Control::Pong)), "still alive");
    app.stop().await;
}

#[tokio::test]
async fn resume_replays_inside_the_ring_and_sends_a_snapshot_beyond_it() {
    let app = spawn_app().await;
    let mut first = connect(&app).await;
    let (seen, _) = snapshot(&mut first).await;
    drop(first);

    // Missed while away.
    let id = app.paired_session("Missed").await;
    let mut again = connect(&app).await;
    let (now, _) = snapshot(&mut again).await;
    again
        .send(Message::text(json!({"type": "resume", "after_seq": seen}).to_string()))
        .await
        .unwrap();
    match next(&mut again).await {
        Ok(ServerFrame::Control(Control::Replay { events, through })) => {
            assert_eq!(through, now);
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            assert_eq!(seqs, ((seen + 1)..=now).collect::<Vec<_>>());
            assert!(
                events.iter().any(
                    |e| matches!(&e.event, Event::SessionStatus { session } if session.id == id)
                )
            );
        }
        other => panic!("expected a replay, got {other:?}"),
    }

    // Far more than the ring holds happened: the answer is everything anew.
    for i in 0..(server::events::RING_CAPACITY + 10) {
        app.state.bus.publish(Event::SessionRemoved { session_id: format!("gone-{i}") });
    }
    let mut late = connect(&app).await;
    snapshot(&mut late).await;
    late.send(Message::text(json!({"type": "resume", "after_seq": seen}).to_string()))
        .await
        .unwrap();
    match next(&mut late).await {
        Ok(ServerFrame::Control(Control::Snapshot { sessions, .. })) => {
            assert_eq!(sessions.len(), 1)
        }
        other => panic!("expected a fresh snapshot, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn refusals_happen_at_the_handshake() {
    let app = spawn_app().await;
    let status = |r: Result<Ws, tungstenite::Error>| match r {
        Err(tungstenite::Error::Http(response)) => {
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            (response.status().as_u16(), body["error"].as_str().unwrap_or_default().to_owned())
        }
        Ok(_) => panic!("the handshake succeeded"),
        Err(e) => panic!("unexpected error: {e}"),
    };
    assert_eq!(status(handshake(&app, &[]).await), (401, "unauthorized".into()));
    assert_eq!(
        status(handshake(&app, &[("x-api-key", "wrong")]).await),
        (401, "unauthorized".into())
    );
    assert_eq!(
        status(
            handshake(&app, &[("x-api-key", API_KEY), ("origin", "https://evil.example")]).await
        ),
        (403, "forbidden".into())
    );
    let own = format!("http://{}", app.addr);
    let cookie = app.login().await;
    let mut ws =
        handshake(&app, &[("cookie", &cookie), ("origin", &own)]).await.expect("cookie refused");
    snapshot(&mut ws).await;
    app.stop().await;
}

#[tokio::test]
async fn per_address_limit() {
    let limits = WsLimits { per_address: 2, ..WsLimits::default() };
    let app = spawn_app_with(TestOptions { ws: limits, ..TestOptions::default() }).await;
    let mut a = connect(&app).await;
    let _b = connect(&app).await;
    snapshot(&mut a).await;
    match handshake(&app, &[("x-api-key", API_KEY)]).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("a third channel was allowed: {:?}", other.map(|_| ())),
    }
    // Another address is unaffected (the limit counts per address; freeing a place on
    // disconnect is covered by the admission unit test).
    assert_eq!(app.state.ws_admission.open_from("127.0.0.1".parse().unwrap()), 2);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_browser_has_its_own_channel_limit() {
    let limits = WsLimits { per_address: 2, ..WsLimits::default() };
    let app = spawn_app_with(TestOptions {
        ws: limits,
        trusted_proxies: vec!["127.0.0.1".into()],
        ..TestOptions::default()
    })
    .await;
    let shared = &app;
    let from = |client: &'static str| async move {
        handshake(shared, &[("x-api-key", API_KEY), ("x-forwarded-for", client)]).await
    };
    let _a1 = from("203.0.113.1").await.unwrap();
    let _a2 = from("203.0.113.1").await.unwrap();
    match from("203.0.113.1").await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("a third channel was allowed: {:?}", other.map(|_| ())),
    }
    // Another browser behind the same proxy is not held back by the first.
    let _b = from("203.0.113.2").await.expect("another browser was refused");
    // IPv6 browsers count by their /64.
    let _c1 = from("2001:db8:1:2::1").await.unwrap();
    let _c2 = from("2001:db8:1:2::ffff").await.unwrap();
    assert!(from("2001:db8:1:2:abcd::9").await.is_err(), "a /64 got a third channel");
    app.stop().await;
}

#[tokio::test]
async fn oversized_frames_close_with_1009() {
    let app = spawn_app().await;
    let mut ws = connect(&app).await;
    snapshot(&mut ws).await;
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(10 * 1024));
    ws.send(Message::text(big)).await.unwrap();
    assert_eq!(next(&mut ws).await, Err(Some(CloseCode::Size)));
    app.stop().await;
}

#[tokio::test]
async fn a_slow_client_is_dropped_while_others_keep_receiving() {
    let limits =
        WsLimits { max_behind: 64, send_timeout: Duration::from_secs(1), ..WsLimits::default() };
    let app = spawn_app_with(TestOptions { ws: limits, ..TestOptions::default() }).await;
    let mut slow = connect(&app).await; // never reads until the end
    let mut fast = connect(&app).await;
    let (start, _) = snapshot(&mut fast).await;

    // Large events, so the slow client's socket buffers fill and it falls behind. They go
    // out in chunks the fast client keeps up with: it must never be the one dropped.
    let (total, chunk) = (4000, 32);
    let mut last = start;
    for round in 0..total / chunk {
        for i in 0..chunk {
            app.state.bus.publish(Event::Qr {
                session_id: format!("s{}", round * chunk + i),
                code: "x".repeat(8 * 1024),
                expires_at: Utc::now(),
            });
        }
        for _ in 0..chunk {
            let e = event(&mut fast).await;
            assert_eq!(e.seq, last + 1, "the fast client missed an event");
            last = e.seq;
        }
    }

    // The slow one gets what was buffered, then the close.
    let ending = loop {
        match next(&mut slow).await {
            Ok(_) => continue,
            Err(code) => break code,
        }
    };
    assert_eq!(ending, Some(CloseCode::from(close::TOO_SLOW)));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_closes_channels_with_going_away() {
    let app = spawn_app().await;
    let mut ws = connect(&app).await;
    snapshot(&mut ws).await;
    let stopping = tokio::spawn(app.stop());
    let ending = loop {
        match next(&mut ws).await {
            Ok(_) => continue,
            Err(code) => break code,
        }
    };
    assert_eq!(ending, Some(CloseCode::Away));
    stopping.await.unwrap();
}

#[tokio::test]
async fn revoked_credentials_end_their_channels_at_once() {
    // A heartbeat far beyond the test's waits: only the revocation itself can close them.
    let limits = WsLimits { heartbeat: Duration::from_secs(3600), ..WsLimits::default() };
    let app = spawn_app_with(TestOptions { ws: limits, ..TestOptions::default() }).await;
    let expired = Some(CloseCode::from(close::CREDENTIALS_EXPIRED));

    // A login that ends.
    let cookie = app.login().await;
    let mut ws = handshake(&app, &[("cookie", &cookie)]).await.unwrap();
    snapshot(&mut ws).await;
    app.anonymous()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(ended(&mut ws).await, expired);

    // A key that is revoked; another key's channel stays open.
    let admin = app.login().await;
    let mut made = Vec::new();
    for name in ["monitor", "bystander"] {
        made.push(app.create_key(&admin, name, "read").await);
    }
    let mut monitor = handshake(&app, &[("x-api-key", &made[0].0)]).await.unwrap();
    let mut bystander = handshake(&app, &[("x-api-key", &made[1].0)]).await.unwrap();
    snapshot(&mut monitor).await;
    snapshot(&mut bystander).await;
    let r = app
        .anonymous()
        .delete(app.url(&format!("/keys/{}", made[0].1)))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(ended(&mut monitor).await, expired);

    // A password change ends the admin's other logins and their channels, not this one's.
    let other = app.login().await;
    let mut elsewhere = handshake(&app, &[("cookie", &other)]).await.unwrap();
    let mut here = handshake(&app, &[("cookie", &admin)]).await.unwrap();
    snapshot(&mut elsewhere).await;
    snapshot(&mut here).await;
    let r = app
        .anonymous()
        .post(app.url(ChangePassword::PATH))
        .header("cookie", &admin)
        .form(&[("current", ADMIN_PASSWORD), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ended(&mut elsewhere).await, expired);

    // The survivors still hear events.
    app.create_session("After").await;
    for ws in [&mut bystander, &mut here] {
        assert!(
            matches!(next(ws).await, Ok(ServerFrame::Event(_))),
            "a channel that should stay closed"
        );
    }
    app.stop().await;
}

/// A client that completes the handshake and then never answers pings: a raw socket, since
/// every WebSocket library answers them for you.
#[tokio::test]
async fn a_client_that_misses_pings_is_dropped() {
    let limits = WsLimits {
        heartbeat: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(100),
        ..WsLimits::default()
    };
    let app = spawn_app_with(TestOptions { ws: limits, ..TestOptions::default() }).await;
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         x-api-key: {API_KEY}\r\n\r\n",
        app.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Read frames (never answering) until a close frame (opcode 8) arrives.
    let mut buffer = Vec::new();
    let close_code = loop {
        let mut chunk = [0u8; 64 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the server hung up without a close frame");
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(code) = find_close(&buffer) {
            break code;
        }
    };
    assert_eq!(close_code, close::HEARTBEAT_MISSED);
    app.stop().await;
}

/// Walks server frames (after the HTTP response) looking for a close frame's code.
fn find_close(buffer: &[u8]) -> Option<u16> {
    let start = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut at = start;
    while at + 2 <= buffer.len() {
        let opcode = buffer[at] & 0x0f;
        let (len, header) = match buffer[at + 1] & 0x7f {
            126 if at + 4 <= buffer.len() => {
                (u16::from_be_bytes([buffer[at + 2], buffer[at + 3]]) as usize, 4)
            }
            127 if at + 10 <= buffer.len() => {
                (u64::from_be_bytes(buffer[at + 2..at + 10].try_into().unwrap()) as usize, 10)
            }
            n @ 0..=125 => (n as usize, 2),
            _ => return None,
        };
        if at + header + len > buffer.len() {
            return None;
        }
        if opcode == 8 && len >= 2 {
            return Some(u16::from_be_bytes([buffer[at + header], buffer[at + header + 1]]));
        }
        at += header + len;
    }
    None
}
