//! The URL guard (contract 03 §6.2): which URLs the server may call, and which addresses it may
//! connect to.
//!
//! Two halves:
//! - [`check_url`] and [`classify`] are pure: the URL's form (scheme, credentials, fragment,
//!   query, length) and an address's class. No lookup, no connection — tests run them over a
//!   table of addresses.
//! - [`Guard`] adds name resolution through a [`Resolver`] and is what the HTTP client uses as
//!   its DNS resolver (`reqwest::dns::Resolve`): the addresses a connection goes to are exactly
//!   the ones that were just checked, in the same lookup — there is no second lookup a
//!   rebinding attacker could answer differently. An IP-literal host is checked by
//!   [`check_url`] itself. Redirects are never followed (see `client`).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use url::{Host, Url};

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 500;

/// Which guard of §6.2: the LLM base URL or the GitLab instance URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    Llm,
    Gitlab,
}

/// Where an address belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// A public address: always allowed.
    Public,
    /// Loopback, private ranges, carrier-grade NAT, unique-local: allowed only with the
    /// private-hosts flag.
    Private,
    /// Link-local, unspecified, 0.0.0.0/8, cloud metadata, multicast, broadcast, reserved:
    /// never allowed.
    Forbidden,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("the URL is not valid")]
    Unparsable,
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("only https URLs are allowed (http needs the private-hosts flag)")]
    Scheme,
    #[error("credentials in the URL are not allowed")]
    Credentials,
    #[error("a fragment in the URL is not allowed")]
    Fragment,
    #[error("a query string in the URL is not allowed")]
    Query,
    #[error("the URL has no host")]
    NoHost,
    #[error("the host resolves to a private or loopback address ({0}); allowed only with the private-hosts flag")]
    Private(IpAddr),
    #[error("the host resolves to a forbidden address ({0}: link-local, unspecified or metadata)")]
    Forbidden(IpAddr),
    #[error("the host could not be resolved")]
    Unresolvable,
    /// The test tripwire: outbound traffic is restricted to loopback.
    #[error("outbound traffic is restricted to loopback ({0})")]
    NotLoopback(String),
}

/// The IPv4 address an IPv6 address carries (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`, the deprecated compatible `::a.b.c.d`), if any.
fn embedded_v4(v6: &Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let o = v6.octets();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    None
}

/// The class of an address (IPv4 carried in IPv6 is unwrapped first).
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(&v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let o = ip.octets();
    if o[0] == 0                                  // 0.0.0.0/8, unspecified
        || (o[0] == 169 && o[1] == 254)           // link-local, metadata 169.254.169.254
        || o[0] >= 224                            // multicast, reserved 240/4, broadcast
        || ip == Ipv4Addr::new(100, 100, 100, 200)
    // Alibaba metadata
    {
        return AddrClass::Forbidden;
    }
    if o[0] == 127                                // loopback
        || o[0] == 10                             // private
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (18..20).contains(&o[1]))
    // benchmarking
    {
        return AddrClass::Private;
    }
    AddrClass::Public
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    let s = ip.segments();
    if ip.is_unspecified()
        || (s[0] & 0xffc0) == 0xfe80              // link-local fe80::/10
        || (s[0] & 0xff00) == 0xff00              // multicast
        || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
    // AWS metadata
    {
        return AddrClass::Forbidden;
    }
    if ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00              // unique-local fc00::/7
        || (s[0] & 0xffc0) == 0xfec0
    // deprecated site-local
    {
        return AddrClass::Private;
    }
    AddrClass::Public
}

/// A URL that passed [`check_url`]: its parsed form, trailing slash trimmed.
#[derive(Debug, Clone)]
pub struct CheckedUrl {
    pub url: Url,
    /// The URL as the user gave it, trailing `/` stripped.
    pub text: String,
}

/// Checks a URL's form, and its host when it is an IP literal. No lookup is made.
pub fn check_url(text: &str, kind: UrlKind, allow_private: bool) -> Result<CheckedUrl, GuardError> {
    let text = text.trim().trim_end_matches('/');
    if text.len() > MAX_URL_LEN {
        return Err(GuardError::TooLong);
    }
    if text.contains('#') {
        return Err(GuardError::Fragment);
    }
    let url = Url::parse(text).map_err(|_| GuardError::Unparsable)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(GuardError::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(GuardError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(GuardError::Fragment);
    }
    if kind == UrlKind::Gitlab && url.query().is_some() {
        return Err(GuardError::Query);
    }
    match url.host() {
        None => return Err(GuardError::NoHost),
        Some(Host::Domain("")) => return Err(GuardError::NoHost),
        Some(Host::Ipv4(v4)) => check_addr(IpAddr::V4(v4), allow_private)?,
        Some(Host::Ipv6(v6)) => check_addr(IpAddr::V6(v6), allow_private)?,
        Some(Host::Domain(_)) => {}
    }
    Ok(CheckedUrl {
        url,
        text: text.to_string(),
    })
}

/// The decision for one resolved address.
pub fn check_addr(ip: IpAddr, allow_private: bool) -> Result<(), GuardError> {
    match classify(ip) {
        AddrClass::Public => Ok(()),
        AddrClass::Private if allow_private => Ok(()),
        AddrClass::Private => Err(GuardError::Private(ip)),
        AddrClass::Forbidden => Err(GuardError::Forbidden(ip)),
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Name resolution, replaceable in tests (a double that answers what the test says).
pub trait Resolver: Send + Sync + 'static {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver (getaddrinfo on the blocking pool).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The guard with its resolver and policy, for one kind of URL.
#[derive(Clone)]
pub struct Guard {
    pub kind: UrlKind,
    pub allow_private: bool,
    /// Test tripwire: refuse every address that is not loopback (and every host name but
    /// `localhost`, before any lookup), whatever the policy says.
    pub loopback_only: bool,
    resolver: Arc<dyn Resolver>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("kind", &self.kind)
            .field("allow_private", &self.allow_private)
            .field("loopback_only", &self.loopback_only)
            .finish()
    }
}

impl Guard {
    pub fn new(kind: UrlKind, allow_private: bool, resolver: Arc<dyn Resolver>) -> Guard {
        Guard {
            kind,
            allow_private,
            loopback_only: false,
            resolver,
        }
    }

    /// The URL's form and IP-literal host ([`check_url`]), plus the tripwire.
    pub fn check_form(&self, text: &str) -> Result<CheckedUrl, GuardError> {
        let checked = check_url(text, self.kind, self.allow_private)?;
        if self.loopback_only {
            match checked.url.host() {
                Some(Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {}
                Some(Host::Ipv4(v4)) if v4.is_loopback() => {}
                Some(Host::Ipv6(v6)) if v6.is_loopback() => {}
                other => {
                    return Err(GuardError::NotLoopback(
                        other.map(|h| h.to_string()).unwrap_or_default(),
                    ))
                }
            }
        }
        Ok(checked)
    }

    /// Resolves `host` and checks every address it gave: all must pass, or none is returned.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, GuardError> {
        if self.loopback_only && !host.eq_ignore_ascii_case("localhost") {
            return Err(GuardError::NotLoopback(host.to_string()));
        }
        let addrs = self
            .resolver
            .lookup(host.to_string())
            .await
            .map_err(|_| GuardError::Unresolvable)?;
        if addrs.is_empty() {
            return Err(GuardError::Unresolvable);
        }
        for ip in &addrs {
            check_addr(*ip, self.allow_private)?;
            if self.loopback_only && !ip.is_loopback() {
                return Err(GuardError::NotLoopback(ip.to_string()));
            }
        }
        Ok(addrs)
    }

    /// The full save-time check: the form, and (for a host name) a lookup whose every
    /// address must pass. The request path repeats the lookup inside the connection.
    pub async fn check(&self, text: &str) -> Result<CheckedUrl, GuardError> {
        let checked = self.check_form(text)?;
        if let Some(Host::Domain(d)) = checked.url.host() {
            self.resolve(d).await?;
        }
        Ok(checked)
    }
}

/// The guard as the HTTP client's resolver: the connection goes only to addresses this very
/// lookup checked.
impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = Guard::resolve(&guard, &host).await.map_err(|e| {
                Box::new(GuardRefused(e)) as Box<dyn std::error::Error + Send + Sync>
            })?;
            let addrs: Vec<SocketAddr> =
                addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The guard's refusal, carried through the HTTP client's error chain.
#[derive(Debug)]
pub struct GuardRefused(pub GuardError);

impl std::fmt::Display for GuardRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused by the URL guard: {}", self.0)
    }
}

impl std::error::Error for GuardRefused {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every address class, decided without any connection or lookup.
    #[test]
    fn the_guard_decides_every_address_class() {
        use AddrClass::*;
        let table: &[(&str, AddrClass)] = &[
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("203.0.113.7", Public),
            ("2606:4700::1111", Public),
            ("127.0.0.1", Private),
            ("127.255.255.254", Private),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("192.168.1.1", Private),
            ("100.64.0.1", Private),
            ("100.127.255.255", Private),
            ("100.128.0.1", Public),
            ("::1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("0.0.0.0", Forbidden),
            ("0.1.2.3", Forbidden),
            ("169.254.169.254", Forbidden),
            ("169.254.0.1", Forbidden),
            ("fe80::1", Forbidden),
            ("febf::1", Forbidden),
            ("::", Forbidden),
            ("fd00:ec2::254", Forbidden),
            ("224.0.0.1", Forbidden),
            ("255.255.255.255", Forbidden),
            ("ff02::1", Forbidden),
            // IPv4 inside IPv6 is unwrapped first.
            ("::ffff:127.0.0.1", Private),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", Forbidden),
            ("::ffff:0.0.0.0", Forbidden),
            ("::ffff:8.8.8.8", Public),
            ("64:ff9b::a9fe:a9fe", Forbidden),
            ("2002:a9fe:a9fe::1", Forbidden),
            ("2002:0a00:0001::1", Private),
            ("::127.0.0.1", Private),
        ];
        for (text, want) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *want, "{text}");
            let private_ok = check_addr(ip, true).is_ok();
            let default_ok = check_addr(ip, false).is_ok();
            assert_eq!(default_ok, *want == Public, "{text} without the flag");
            assert_eq!(private_ok, *want != Forbidden, "{text} with the flag");
        }
    }

    #[test]
    fn url_forms_are_checked_before_any_lookup() {
        let llm = |u: &str, p| check_url(u, UrlKind::Llm, p).map(|c| c.text);
        assert_eq!(
            llm("https://api.example.com/v1/", false).unwrap(),
            "https://api.example.com/v1"
        );
        assert_eq!(
            llm("http://api.example.com/v1", false),
            Err(GuardError::Scheme)
        );
        assert!(llm("http://127.0.0.1:11434/v1", true).is_ok());
        assert_eq!(llm("ftp://example.com", true), Err(GuardError::Scheme));
        assert_eq!(
            llm("https://user:pw@example.com", false),
            Err(GuardError::Credentials)
        );
        assert_eq!(
            llm("https://user@example.com", false),
            Err(GuardError::Credentials)
        );
        assert_eq!(
            llm("https://example.com/#x", false),
            Err(GuardError::Fragment)
        );
        assert!(llm("https://example.com/v1?x=1", false).is_ok());
        assert_eq!(
            check_url("https://gitlab.example.com?x=1", UrlKind::Gitlab, false).map(|c| c.text),
            Err(GuardError::Query)
        );
        let long = format!("https://example.com/{}", "a".repeat(500));
        assert_eq!(llm(&long, false), Err(GuardError::TooLong));
        assert!(matches!(
            llm("https://127.0.0.1/", false),
            Err(GuardError::Private(_))
        ));
        assert!(matches!(
            llm("https://[::ffff:169.254.169.254]/", true),
            Err(GuardError::Forbidden(_))
        ));
        assert!(matches!(
            llm("http://169.254.169.254/latest", true),
            Err(GuardError::Forbidden(_))
        ));
        assert!(matches!(
            llm("http://0.0.0.0:8080", true),
            Err(GuardError::Forbidden(_))
        ));
        assert!(matches!(
            llm("http://[fe80::1]:8080", true),
            Err(GuardError::Forbidden(_))
        ));
        // Decimal and hex spellings of an IPv4 literal are parsed as the address they name.
        assert!(matches!(
            llm("https://2130706433/", false),
            Err(GuardError::Private(_))
        ));
        assert!(matches!(
            llm("https://0xa9fea9fe/", true),
            Err(GuardError::Forbidden(_))
        ));
        assert_eq!(llm("not a url", true), Err(GuardError::Unparsable));
    }
}
