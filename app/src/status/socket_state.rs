//! Where the browser's event channel stands.

/// The event channel's state, as the dashboard shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SocketState {
    /// Opening.
    #[default]
    Connecting,
    /// Open: events flow.
    Open,
    /// Closing.
    Closing,
    /// Closed; a reconnect is scheduled.
    Closed,
    /// Gave up after too many failures; waits for the network, the tab, or a click.
    Offline,
}

impl SocketState {
    /// Lower-case name, for attributes and tests.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketState::Connecting => "connecting",
            SocketState::Open => "open",
            SocketState::Closing => "closing",
            SocketState::Closed => "closed",
            SocketState::Offline => "offline",
        }
    }

    /// A few words for people.
    pub fn label(self) -> &'static str {
        match self {
            SocketState::Connecting => "Live updates: connecting…",
            SocketState::Open => "Live updates: on",
            SocketState::Closing | SocketState::Closed => "Live updates: reconnecting…",
            SocketState::Offline => "Live updates: offline",
        }
    }
}
