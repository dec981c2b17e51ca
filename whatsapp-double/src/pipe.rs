//! The in-memory socket between a client and the double: whatever the client sends reaches
//! the double's connection task, whatever the double sends arrives as the transport's
//! `DataReceived` events. Nothing leaves the process.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use whatsapp_rust::{
    anyhow, async_channel, async_trait,
    bytes::Bytes,
    transport::{Transport, TransportEvent, TransportFactory},
    wacore::net::DisconnectReason,
};

use crate::{Shared, connection};

/// The client's end of one connection.
pub(crate) struct ClientEnd {
    to_double: Mutex<Option<mpsc::UnboundedSender<Bytes>>>,
}

#[async_trait]
impl Transport for ClientEnd {
    async fn send(&self, data: Bytes) -> anyhow::Result<()> {
        let guard = self.to_double.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) if tx.send(data).is_ok() => Ok(()),
            _ => anyhow::bail!("the connection to the WhatsApp double is closed"),
        }
    }

    async fn disconnect(&self) {
        // Dropping the sender is the double's end-of-stream.
        self.to_double.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The double's end of one connection: bytes in, transport events out.
pub(crate) struct DoubleEnd {
    pub inbound: mpsc::UnboundedReceiver<Bytes>,
    pub outbound: async_channel::Sender<TransportEvent>,
}

impl DoubleEnd {
    /// Sends bytes to the client; `false` once the client is gone.
    pub async fn send(&self, data: Bytes) -> bool {
        self.outbound.send(TransportEvent::DataReceived(data)).await.is_ok()
    }

    /// Closes the socket from the server's side, as WhatsApp does when it ends a stream.
    pub async fn hang_up(&self) {
        let _ =
            self.outbound.send(TransportEvent::Disconnected(DisconnectReason::StreamEnded)).await;
        self.outbound.close();
    }
}

/// Opens connections to the double (a [`TransportFactory`] for the client builder).
pub struct Factory {
    pub(crate) shared: Arc<Shared>,
}

#[async_trait]
impl TransportFactory for Factory {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        if let Some(refusal) = self.shared.refuse_sockets() {
            anyhow::bail!("{refusal}");
        }
        let (to_double, inbound) = mpsc::unbounded_channel();
        let (outbound, events) = async_channel::unbounded();
        let _ = outbound.try_send(TransportEvent::Connected);
        let end = DoubleEnd { inbound, outbound };
        // The double's side runs on the double's runtime: like a real server it outlives a
        // client process that dies.
        self.shared.runtime.spawn(connection::serve(self.shared.clone(), end));
        let client = ClientEnd { to_double: Mutex::new(Some(to_double)) };
        Ok((Arc::new(client), events))
    }
}
