//! The double on a real socket: WebSocket on a loopback listener, for a client in another
//! process (a benchmark measuring Lifeline alone). Each WebSocket is bridged to the same
//! connection code the in-memory transport uses.

use futures_util::{SinkExt, StreamExt};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_tungstenite::tungstenite::Message;
use whatsapp_rust::{async_channel, transport::TransportEvent};

use crate::{WhatsAppDouble, connection, pipe::DoubleEnd};

/// Serves WebSocket clients on `listener` until the task is dropped. Point the client's
/// WebSocket transport at `ws://ADDR/ws/chat`.
pub async fn serve(double: WhatsAppDouble, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let shared = double.shared.clone();
        tokio::spawn(async move {
            let Ok(socket) = tokio_tungstenite::accept_async(stream).await else { return };
            let (mut sink, mut source) = socket.split();
            let (to_double, inbound) = mpsc::unbounded_channel();
            let (outbound, events) = async_channel::unbounded();
            tokio::spawn(connection::serve(shared, DoubleEnd { inbound, outbound }));
            let reading = async {
                while let Some(Ok(message)) = source.next().await {
                    match message {
                        // A clone of `Bytes` shares the frame; nothing is copied.
                        Message::Binary(data) if to_double.send(data.clone()).is_err() => break,
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                drop(to_double);
            };
            let writing = async {
                while let Ok(event) = events.recv().await {
                    match event {
                        TransportEvent::DataReceived(data) => {
                            if sink.send(Message::Binary(data)).await.is_err() {
                                break;
                            }
                        }
                        TransportEvent::Disconnected(_) => break,
                        TransportEvent::Connected => {}
                    }
                }
                let _ = sink.close().await;
            };
            tokio::join!(reading, writing);
        });
    }
}
