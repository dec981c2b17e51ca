//! The browser's `/ws` client (hydrate only): one socket at a time, reconnecting on the
//! ladder of [`SocketPolicy::reconnect`] with jitter, giving up at its end until the network
//! or the page comes back, and a heartbeat that catches half-open sockets. Each connection
//! starts with a snapshot, so a reconnect needs no resume. It reads and writes only the
//! status context.

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
};

use chrono::Utc;
use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use super::{
    SocketState, StatusState,
    live::{Applied, Live},
};
use crate::{
    model::ws::{ClientFrame, ServerFrame, close},
    policy::SocketPolicy,
};

struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
    _error: Closure<dyn FnMut(Event)>,
}

struct Manager {
    state: StatusState,
    policy: SocketPolicy,
    live: Live,
    socket: Option<WebSocket>,
    handlers: Option<Handlers>,
    generation: u32,
    attempts: u32,
    /// Whether the current socket ever opened (a failed reconnect is not news).
    opened: bool,
    /// How many sockets have opened in the page's life.
    connections: u32,
    retry: Option<Timeout>,
    heartbeat: Option<Interval>,
    pong_deadline: Option<Timeout>,
    /// Itself, for the timers it arms.
    this: Weak<RefCell<Manager>>,
}

/// The channel, shared by its socket's handlers, its timers and the effects that drive it.
type Shared = Rc<RefCell<Manager>>;

/// Runs `f` on the manager if the page still has it.
fn with<R>(manager: &Weak<RefCell<Manager>>, f: impl FnOnce(&mut Manager) -> R) -> Option<R> {
    manager.upgrade().map(|m| f(&mut m.borrow_mut()))
}

/// Opens the event channel for as long as the page lives, reconnecting afresh whenever
/// `state.reconnect_request` is notified or the page is shown again.
pub fn start(state: StatusState, policy: SocketPolicy) {
    let manager = Rc::new(RefCell::new(Manager {
        state,
        policy,
        live: Live::default(),
        socket: None,
        handlers: None,
        generation: 0,
        attempts: 0,
        opened: false,
        connections: 0,
        retry: None,
        heartbeat: None,
        pong_deadline: None,
        this: Weak::new(),
    }));
    manager.borrow_mut().this = Rc::downgrade(&manager);
    connect(&manager);
    let m = manager.clone();
    Effect::watch(move || state.reconnect_request.track(), move |_, _, _| retry_now(&m), false);
    Effect::watch(
        move || state.visible.get(),
        move |visible, _, _| {
            if *visible {
                retry_now(&manager);
            }
        },
        false,
    );
}

/// Reconnects now, starting the retry count afresh, unless the channel is open or on its
/// way (the network or the page came back, or someone clicked "retry").
fn retry_now(manager: &Shared) {
    let stalled = {
        let mut m = manager.borrow_mut();
        let stalled =
            matches!(m.state.socket.get_untracked(), SocketState::Offline | SocketState::Closed);
        if stalled {
            m.attempts = 0;
        }
        stalled
    };
    if stalled {
        connect(manager);
    }
}

fn url() -> Option<String> {
    let location = window().location();
    let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

fn connect(manager: &Shared) {
    let mut m = manager.borrow_mut();
    m.teardown();
    m.generation += 1;
    m.opened = false;
    let generation = m.generation;
    m.state.socket.set(SocketState::Connecting);
    let Some(socket) = url().and_then(|u| WebSocket::new(&u).ok()) else {
        m.closed(generation, 1006);
        return;
    };
    let this = Rc::downgrade(manager);
    let (open, message, close) = (this.clone(), this.clone(), this);
    let handlers = Handlers {
        _open: Closure::new(move || {
            with(&open, |m| m.opened(generation));
        }),
        _message: Closure::new(move |e: MessageEvent| {
            if let Some(text) = e.data().as_string() {
                with(&message, |m| m.message(generation, &text));
            }
        }),
        _close: Closure::new(move |e: CloseEvent| {
            with(&close, |m| m.closed(generation, e.code()));
        }),
        _error: Closure::new(move |_: Event| {}),
    };
    socket.set_onopen(Some(handlers._open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(handlers._message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(handlers._close.as_ref().unchecked_ref()));
    socket.set_onerror(Some(handlers._error.as_ref().unchecked_ref()));
    m.socket = Some(socket);
    m.handlers = Some(handlers);
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Its handlers are about to go: the socket must not call them afterwards.
        self.teardown();
    }
}

impl Manager {
    /// Detaches and closes the current socket, so there is never a second one alive.
    fn teardown(&mut self) {
        self.heartbeat = None;
        self.pong_deadline = None;
        self.retry = None;
        if let Some(socket) = self.socket.take() {
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
            socket.set_onerror(None);
            let _ = socket.close();
        }
        self.handlers = None;
    }

    fn send(&self, frame: &ClientFrame) {
        if let (Some(socket), Ok(text)) = (&self.socket, serde_json::to_string(frame)) {
            let _ = socket.send_with_str(&text);
        }
    }

    fn opened(&mut self, generation: u32) {
        if generation != self.generation {
            return;
        }
        self.attempts = 0;
        self.opened = true;
        // The channel is back: the server may be a new release, without this tab's files.
        if self.connections > 0 {
            super::release::check();
        }
        self.connections += 1;
        // Every connection begins with a snapshot, which brings the page up to date: no
        // resume is asked for.
        self.state.socket.set(SocketState::Open);
        let heartbeat = self.policy.heartbeat.as_millis() as u32;
        let this = self.this.clone();
        self.heartbeat = Some(Interval::new(heartbeat, move || {
            with(&this, |m| m.ping(generation));
        }));
    }

    fn ping(&mut self, generation: u32) {
        if generation != self.generation || self.pong_deadline.is_some() {
            return;
        }
        self.send(&ClientFrame::Ping);
        let timeout = self.policy.pong_timeout.as_millis() as u32;
        let this = self.this.clone();
        self.pong_deadline = Some(Timeout::new(timeout, move || {
            // No pong: the socket is half-open. Close it; the close handler reconnects.
            with(&this, |m| {
                if m.generation == generation {
                    m.state.socket.set(SocketState::Closing);
                    if let Some(socket) = &m.socket {
                        let _ =
                            socket.close_with_code_and_reason(close::HEARTBEAT_MISSED, "no pong");
                    }
                }
            });
        }));
    }

    fn message(&mut self, generation: u32, text: &str) {
        if generation != self.generation {
            return;
        }
        let Ok(frame) = ServerFrame::from_json(text) else { return };
        match self.live.apply(frame) {
            Applied::Changed => self.show(),
            Applied::Pong => self.pong_deadline = None,
            Applied::Nothing | Applied::Replayed(_) | Applied::Refused(_) => {}
        }
    }

    /// Hands what the channel knows to the status context.
    fn show(&self) {
        let s = self.state;
        if let Some(health) = &self.live.health {
            s.health.set(Some(health.clone()));
            s.reachable.set(Some(true));
            s.last_error.set(None);
            s.last_checked.set(Some(Utc::now()));
        }
        s.sessions.set(self.live.sessions.clone());
        s.qr.set(self.live.qr.clone());
        s.pair_codes.set(self.live.pair_codes.clone());
        s.restore.set(self.live.restore);
        s.recoveries.set(self.live.recoveries.clone());
    }

    fn closed(&mut self, generation: u32, code: u16) {
        if generation != self.generation {
            return;
        }
        self.heartbeat = None;
        self.pong_deadline = None;
        if code == close::CREDENTIALS_EXPIRED {
            self.state.socket.set(SocketState::Offline);
            let _ = window().location().set_href("/dashboard/login");
            return;
        }
        // A channel that was open just closed: whether the server is gone or only the socket
        // is, the dot must not wait 30 s for the next poll to find out.
        // A hidden tab waits: it polls the moment it is shown again.
        if self.opened && self.state.visible.get_untracked() {
            self.state.poll_request.notify();
        }
        self.attempts += 1;
        let (ladder, jitter) = (&self.policy.reconnect, self.policy.jitter);
        match ladder.jittered_before(self.attempts, jitter, js_sys::Math::random()) {
            Some(delay) => {
                self.state.socket.set(SocketState::Closed);
                let this = self.this.clone();
                self.retry = Some(Timeout::new(delay.as_millis() as u32, move || {
                    if let Some(manager) = this.upgrade() {
                        connect(&manager);
                    }
                }));
            }
            None => self.state.socket.set(SocketState::Offline),
        }
    }
}
