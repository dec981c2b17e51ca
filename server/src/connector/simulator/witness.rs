//! The witness: a process outside every Lifeline instance that the simulator's links
//! report to, so that one observer sees every instance's connections at once.
//!
//! Each simulated link running on an instance started with `--simulator-witness ADDR`
//! holds a TCP connection to the witness for as long as it is up: it says which session,
//! which instance and which lease grant (fencing token) it connects under, then pings.
//! The witness stands where WhatsApp stands for real links: it sees when a session is held
//! twice, whichever instances believe they hold it. Like WhatsApp it closes a connection
//! that falls silent, and the link then ends as dropped. A process paused with SIGSTOP
//! cannot close its sockets, but it stops pinging: its hold ends, for the witness, at its
//! last ping.
//!
//! The protocol is lines of text: `HELLO <session> <holder> <token>`, answered `OK`, then
//! `PING` every [`PING_EVERY`]; the link ends by closing the connection.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::{oneshot, watch},
};

/// How often a link tells the witness it is still there.
pub const PING_EVERY: Duration = Duration::from_millis(250);

/// How long the witness waits for a ping before it takes the link for gone and closes
/// its connection (several pings, so a busy machine is not taken for a paused one).
pub const SILENCE: Duration = Duration::from_millis(1500);

/// The witness's answer to a hello.
pub const ACCEPTED: &str = "OK";

/// What a link sends while it is up.
pub const PING: &str = "PING";

/// Who holds a link: the first line a link sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The session.
    pub session_id: String,
    /// The instance holding it (its id: a restarted instance is another holder).
    pub holder: String,
    /// The fencing token of the lease the instance holds the session under.
    pub token: i64,
}

impl Hello {
    /// The line that says it (without the newline).
    pub fn line(&self) -> String {
        format!("HELLO {} {} {}", self.session_id, self.holder, self.token)
    }

    /// Reads a hello line; `None` for anything else.
    pub fn parse(line: &str) -> Option<Hello> {
        let mut words = line.strip_prefix("HELLO ")?.split(' ');
        let hello = Hello {
            session_id: words.next()?.to_owned(),
            holder: words.next()?.to_owned(),
            token: words.next()?.parse().ok()?,
        };
        words.next().is_none().then_some(hello)
    }
}

/// A link's connection to the witness. Dropping it closes the connection: the witness
/// sees the hold end at once.
pub struct Presence {
    _stop: oneshot::Sender<()>,
}

/// What a link must do when the witness closes its connection.
pub trait Watched: Send + Sync + 'static {
    /// Whether the link is still up; pinging stops once it is not.
    fn is_up(&self) -> bool;
    /// The upstream closed the connection.
    fn lost(&self, why: &str);
}

/// Says hello to the witness at `addr` and keeps pinging while `link` is up.
pub async fn attend<W: Watched>(
    addr: SocketAddr,
    hello: &Hello,
    link: Weak<W>,
) -> std::io::Result<Presence> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{}\n", hello.line()).as_bytes()).await?;
    let mut lines = BufReader::new(read).lines();
    match lines.next_line().await? {
        Some(answer) if answer == ACCEPTED => {}
        other => {
            return Err(std::io::Error::other(format!("the witness answered {other:?}")));
        }
    }
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut stopped = stopped;
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                line = lines.next_line() => {
                    // The witness never sends after its answer: this is the end.
                    if let (Ok(None) | Err(_), Some(link)) = (line, link.upgrade()) {
                        link.lost("the simulated upstream closed the connection");
                    }
                    return;
                }
                _ = ping.tick() => {
                    let up = link.upgrade().is_some_and(|l| l.is_up());
                    if !up || write.write_all(format!("{PING}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(Presence { _stop: stop })
}

/// The witness's side of one connection: its hello, then how it ended.
#[derive(Clone, Debug)]
pub struct Visit {
    /// Who connected.
    pub hello: Hello,
    /// When the hello arrived.
    pub began: Instant,
    /// When the last sign of life (hello or ping) arrived.
    pub last_seen: Instant,
    /// How it ended, if it has.
    pub end: Option<VisitEnd>,
}

/// How a connection to the witness ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisitEnd {
    /// The link closed it (or its process died): held until then.
    Closed(Instant),
    /// It fell silent and the witness closed it: held until its last ping.
    Silent,
}

impl Visit {
    /// Until when the session was held over this connection (`now` while it lasts).
    pub fn held_until(&self, now: Instant) -> Instant {
        match self.end {
            Some(VisitEnd::Closed(at)) => at,
            Some(VisitEnd::Silent) => self.last_seen,
            None => now,
        }
    }
}

/// The witness itself: accepts links' connections and keeps what it saw. Cloning shares
/// it; it stops listening when the last clone is dropped.
#[derive(Clone)]
pub struct Witness {
    visits: Arc<Mutex<Vec<Visit>>>,
    changed: Arc<watch::Sender<()>>,
    addr: SocketAddr,
    _listening: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Witness {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Witness> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let visits = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(watch::Sender::new(()));
        let (v, c) = (visits.clone(), changed.clone());
        let listening = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(receive(stream, v.clone(), c.clone()));
            }
        });
        let _listening = Arc::new(AbortOnDrop(listening.abort_handle()));
        Ok(Witness { visits, changed, addr, _listening })
    }

    /// Where links reach it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every connection it saw, in the order their hellos arrived.
    pub fn visits(&self) -> Vec<Visit> {
        self.visits.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Wakes on every hello and every end (not on pings).
    pub fn changes(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }
}

/// Serves one connection: reads the hello, answers, and records signs of life and the end.
async fn receive(
    stream: TcpStream,
    visits: Arc<Mutex<Vec<Visit>>>,
    changed: Arc<watch::Sender<()>>,
) {
    let lock = || visits.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let Ok(Some(Some(hello))) = lines.next_line().await.map(|l| l.as_deref().map(Hello::parse))
    else {
        return;
    };
    let began = Instant::now();
    let i = {
        let mut visits = lock();
        visits.push(Visit { hello, began, last_seen: began, end: None });
        visits.len() - 1
    };
    changed.send_replace(());
    let mut end = VisitEnd::Closed(Instant::now());
    if write.write_all(format!("{ACCEPTED}\n").as_bytes()).await.is_ok() {
        end = loop {
            match tokio::time::timeout(SILENCE, lines.next_line()).await {
                Ok(Ok(Some(_ping))) => lock()[i].last_seen = Instant::now(),
                Ok(_) => break VisitEnd::Closed(Instant::now()),
                Err(_) => break VisitEnd::Silent,
            }
        };
    }
    lock()[i].end = Some(end);
    changed.send_replace(());
}

/// The sessions held by more than one instance at some moment: each pair of overlapping
/// holds by different instances, as (session, first instance, second instance).
pub fn double_holds(visits: &[Visit], now: Instant) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (i, a) in visits.iter().enumerate() {
        for b in &visits[i + 1..] {
            if a.hello.session_id == b.hello.session_id
                && a.hello.holder != b.hello.holder
                && a.began < b.held_until(now)
                && b.began < a.held_until(now)
            {
                found.push((
                    a.hello.session_id.clone(),
                    a.hello.holder.clone(),
                    b.hello.holder.clone(),
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_reads_back_as_written_and_nothing_else_is_one() {
        let hello = Hello { session_id: "s-1".into(), holder: "a".into(), token: 7 };
        assert_eq!(Hello::parse(&hello.line()), Some(hello));
        for bad in ["HELLO s a", "HELLO s a x", "HELLO s a 1 2", "PING", ""] {
            assert_eq!(Hello::parse(bad), None, "{bad:?}");
        }
    }

    fn visit(session: &str, instance: &str, began: u64, until: Option<u64>) -> Visit {
        let zero = Instant::now();
        let at = |ms| zero + Duration::from_millis(ms);
        Visit {
            hello: Hello { session_id: session.into(), holder: instance.into(), token: 1 },
            began: at(began),
            last_seen: at(began),
            end: until.map(|u| VisitEnd::Closed(at(u))),
        }
    }

    #[test]
    fn holds_by_two_instances_that_overlap_are_found_and_handovers_are_not() {
        let later = Instant::now() + Duration::from_secs(60);
        let handover = [visit("s", "a", 0, Some(100)), visit("s", "b", 150, None)];
        assert!(double_holds(&handover, later).is_empty());
        let same_instance = [visit("s", "a", 0, Some(200)), visit("s", "a", 150, None)];
        assert!(double_holds(&same_instance, later).is_empty());
        let other_session = [visit("s", "a", 0, None), visit("t", "b", 0, None)];
        assert!(double_holds(&other_session, later).is_empty());
        let overlap = [visit("s", "a", 0, Some(200)), visit("s", "b", 150, None)];
        assert_eq!(double_holds(&overlap, later), [("s".into(), "a".into(), "b".into())]);
        let still_open = [visit("s", "a", 0, None), visit("s", "b", 150, None)];
        assert_eq!(double_holds(&still_open, later).len(), 1);
    }

    #[test]
    fn a_silent_hold_ends_at_its_last_ping() {
        let mut v = visit("s", "a", 0, None);
        v.end = Some(VisitEnd::Silent);
        let b = visit("s", "b", 10, None);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(double_holds(&[v.clone(), b.clone()], later).is_empty());
        v.last_seen += Duration::from_millis(20);
        assert_eq!(double_holds(&[v, b], later).len(), 1);
    }
}
