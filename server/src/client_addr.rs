//! Who a request comes from: the peer of the TCP connection, or — when that peer is a proxy
//! the operator trusts — the address the proxy says it forwards for.
//!
//! Behind nginx every browser would otherwise be nginx's address: five wrong logins by one
//! person would lock out everyone, and every dashboard would share one address's channel
//! limit. A forwarded address is believed only from a trusted peer: anyone else could
//! write any `X-Forwarded-For` they like.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{Extensions, HeaderMap, header},
};
use ipnet::IpNet;

/// The client's address, worked out once per request by the guard and kept in the
/// request's extensions for whoever counts by address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client address of a request: the guard's answer, else the peer, else
    /// unspecified (a request that never met a socket, in tests).
    pub fn of(extensions: &Extensions) -> IpAddr {
        extensions.get::<ClientAddr>().map(|c| c.0).unwrap_or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::from([0, 0, 0, 0]), |c| canonical(c.0.ip()))
        })
    }
}

/// A request a trusted proxy received over HTTPS (an extension the guard puts on such a
/// request): its login cookie is `Secure`, its answer carries HSTS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViaHttps;

impl ViaHttps {
    /// Whether the request these extensions belong to came over HTTPS through a trusted proxy.
    pub fn of(extensions: &Extensions) -> bool {
        extensions.get::<ViaHttps>().is_some()
    }
}

/// Whether a trusted proxy says the client reached it over HTTPS (the first proxy's word:
/// `X-Forwarded-Proto`'s first value, or `proto=` of `Forwarded`'s first element).
pub fn forwarded_https(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> bool {
    if !trusted.trusts(peer) {
        return false;
    }
    let first = |name: &'static str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next())
    };
    let standard = first(header::FORWARDED.as_str()).and_then(|element| {
        element.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            key.eq_ignore_ascii_case("proto").then(|| value.trim().trim_matches('"').to_owned())
        })
    });
    let proto = standard.or_else(|| first("x-forwarded-proto").map(|p| p.trim().to_owned()));
    proto.is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// A proxy entry that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or network (like 127.0.0.1 or 10.0.0.0/8)")]
pub struct BadProxy(String);

impl TrustedProxies {
    /// Reads `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`…
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, BadProxy> {
        entries
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|e| {
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxy(e.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }
}

/// The address limits count by: IPv4 addresses as they are, IPv6 by their /64 (one home or
/// phone is handed a whole /64, and could otherwise take a fresh address per request).
pub fn limit_key(addr: IpAddr) -> IpAddr {
    match canonical(addr) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// IPv4 addresses written as IPv6 (`::ffff:1.2.3.4`) are IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The client of a request that arrived from `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.trusts(peer) {
        return canonical(peer);
    }
    // Each proxy appends the address it saw: read from the right, past every trusted hop.
    let hops = forwarded_for(headers);
    hops.iter().rev().copied().find(|hop| !trusted.trusts(*hop)).map_or(canonical(peer), canonical)
}

/// The addresses in `Forwarded: for=…` (RFC 7239), or else in `X-Forwarded-For`, in order.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &'static str| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
    };
    let standard: Vec<IpAddr> = values(header::FORWARDED.as_str())
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case("for")
                    .then(|| node_address(value.trim().trim_matches('"')))?
            })
        })
        .collect();
    if !standard.is_empty() {
        return standard;
    }
    values("x-forwarded-for").filter_map(|hop| node_address(hop.trim())).collect()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:5678` or `2001:db8::1`.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse().ok().or_else(|| node.rsplit_once(':')?.0.parse().ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap();
        let xff = with("x-forwarded-for", "203.0.113.7");
        assert_eq!(client_address(ip("127.0.0.1"), &xff, &trusted), ip("203.0.113.7"));
        // Anyone else's header is theirs to invent.
        assert_eq!(client_address(ip("198.51.100.9"), &xff, &trusted), ip("198.51.100.9"));
        let none = TrustedProxies::default();
        assert_eq!(client_address(ip("127.0.0.1"), &xff, &none), ip("127.0.0.1"));
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        // A spoofed first entry, then the real client, then an inner proxy.
        let xff = with("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.5");
        assert_eq!(client_address(ip("10.0.0.1"), &xff, &trusted), ip("203.0.113.7"));
        // Only trusted hops: the outermost one is the client as far as anyone can tell.
        let inner = with("x-forwarded-for", "10.0.0.9");
        assert_eq!(client_address(ip("10.0.0.1"), &inner, &trusted), ip("10.0.0.1"));
        let garbage = with("x-forwarded-for", "not an address");
        assert_eq!(client_address(ip("10.0.0.1"), &garbage, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn the_standard_header_is_read_too() {
        let trusted = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        let fwd = with("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\"");
        assert_eq!(client_address(ip("127.0.0.1"), &fwd, &trusted), ip("2001:db8:cafe::17"));
    }

    #[test]
    fn https_is_the_trusted_proxys_word() {
        let trusted = TrustedProxies::parse(&["127.0.0.1".into()]).unwrap();
        let https = with("x-forwarded-proto", "https");
        assert!(forwarded_https(ip("127.0.0.1"), &https, &trusted));
        assert!(!forwarded_https(ip("198.51.100.9"), &https, &trusted), "an untrusted peer");
        assert!(!forwarded_https(ip("127.0.0.1"), &with("x-forwarded-proto", "http"), &trusted));
        assert!(forwarded_https(
            ip("127.0.0.1"),
            &with("x-forwarded-proto", "https, http"),
            &trusted
        ));
        let fwd = with("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43");
        assert!(forwarded_https(ip("127.0.0.1"), &fwd, &trusted));
        assert!(!forwarded_https(ip("127.0.0.1"), &HeaderMap::new(), &trusted));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff::9")), limit_key(ip("2001:db8:1:2::5")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn bad_proxy_entries_are_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/8".into(), "nginx".into()]).unwrap_err();
        assert!(err.to_string().contains("\"nginx\""), "{err}");
    }
}
