//! The event channel's limits: how the server keeps each `/ws` client honest.

use std::time::Duration;

use app::policy::SocketPolicy;

/// The channel's limits and timings.
#[derive(Clone, Debug)]
pub struct WsLimits {
    /// How often the server pings each client (and re-checks its credentials).
    pub heartbeat: Duration,
    /// How long a client may take to answer a ping.
    pub pong_timeout: Duration,
    /// How long one frame may take to leave before the client counts as stuck.
    pub send_timeout: Duration,
    /// How many events a client may fall behind before it is dropped.
    pub max_behind: usize,
    /// The largest message a client may send, in bytes; a larger one closes the channel
    /// with 1009.
    pub max_message: usize,
    /// Open channels allowed per client address.
    pub per_address: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        // Both ends keep the channel alive on the same rhythm: the browser's.
        let socket = SocketPolicy::default();
        WsLimits {
            heartbeat: socket.heartbeat,
            pong_timeout: socket.pong_timeout,
            send_timeout: Duration::from_secs(10),
            max_behind: 1024,
            max_message: 4 * 1024,
            per_address: 32,
        }
    }
}
