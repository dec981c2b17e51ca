//! Waiting for the operator (or the service manager) to ask for a stop.

use std::io;

/// Starts listening for ctrl-c and SIGTERM at once, and returns a future that resolves on
/// whichever comes first. Listening from the very start matters: a SIGTERM that arrives
/// while the server is still starting must still mean "shut down cleanly".
#[cfg(unix)]
pub fn listen() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("ctrl-c received, shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    })
}

/// Starts listening for ctrl-c, and returns a future that resolves on it.
#[cfg(not(unix))]
pub fn listen() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("ctrl-c received, shutting down");
        }
    })
}
