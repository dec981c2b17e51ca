//! The baseline: the least an axum WebSocket broadcast can be. `POST /trigger` sends its body,
//! as it is, to every `/ws` client through one tokio broadcast channel; each connection's task
//! forwards it and answers the client's frames, nothing else: no credentials, no snapshot, no
//! heartbeat, no limits. Run as a child process of the benchmark (`--serve-bare PORT`).

use axum::{
    Router,
    body::Bytes,
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, Utf8Bytes, WebSocket},
    },
    response::Response,
    routing::{get, post},
};
use tokio::{net::TcpListener, sync::broadcast};

/// Serves on 127.0.0.1:`port` until killed.
pub async fn serve(port: u16) {
    let (tx, _) = broadcast::channel::<Utf8Bytes>(1024);
    let app = Router::new()
        .route("/ws", get(upgrade))
        .route("/trigger", post(trigger))
        .route("/livez", get(|| async { "ok" }))
        .with_state(tx);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind the bare server");
    // Small frames go out at once, as Lifeline's own connection loop sets it.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.expect("bare server");
}

async fn trigger(State(tx): State<broadcast::Sender<Utf8Bytes>>, body: Bytes) -> &'static str {
    match Utf8Bytes::try_from(body) {
        Ok(frame) => {
            let _ = tx.send(frame);
            "sent"
        }
        Err(_) => "not UTF-8",
    }
}

async fn upgrade(State(tx): State<broadcast::Sender<Utf8Bytes>>, ws: WebSocketUpgrade) -> Response {
    let rx = tx.subscribe();
    ws.on_upgrade(move |socket| forward(socket, rx))
}

async fn forward(mut socket: WebSocket, mut rx: broadcast::Receiver<Utf8Bytes>) {
    loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
