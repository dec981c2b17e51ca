//! The client's way out (its WebSocket transport and its HTTP client), watched.
//!
//! whatsapp-rust retries or gives up on a failed connect without telling the caller why
//! (its run loop only logs it). Lifeline must show operators the real error ("connection
//! refused", "dns error…"), so both ways out are wrapped and remember their last failure.

use std::sync::{Arc, Mutex};

use whatsapp_rust::{
    anyhow, async_channel, async_trait,
    http::{HttpClient, HttpRequest, HttpResponse},
    transport::{Transport, TransportEvent, TransportFactory},
};

/// The last failure seen on the way out, taken once.
#[derive(Clone, Debug, Default)]
pub struct LastFailure(Arc<Mutex<Option<String>>>);

impl LastFailure {
    pub(super) fn set(&self, what: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(what);
    }

    /// The failure, if any, clearing it.
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A transport factory that remembers why it could not connect.
pub struct ObservedTransport {
    pub(super) inner: Arc<dyn TransportFactory>,
    pub(super) failure: LastFailure,
}

#[async_trait]
impl TransportFactory for ObservedTransport {
    async fn create_transport(
        &self,
    ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
        self.inner.create_transport().await.inspect_err(|e| {
            self.failure.set(format!("cannot reach WhatsApp: {e:#}"));
        })
    }
}

/// An HTTP client that remembers its last failure (the version lookup runs before login).
pub struct ObservedHttp {
    pub(super) inner: Arc<dyn HttpClient>,
    pub(super) failure: LastFailure,
}

#[async_trait]
impl HttpClient for ObservedHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let url = request.url.clone();
        self.inner.execute(request).await.inspect_err(|e| {
            self.failure.set(format!("cannot reach {url}: {e:#}"));
        })
    }
}
