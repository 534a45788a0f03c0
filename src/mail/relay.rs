//! The SMTP URL: scheme, host, port, credentials and the `tls` parameter, parsed here (not by
//! lettre) so that plain text must be asked for by name (see the table in the module above).

use std::net::IpAddr;

/// Where and how to reach the SMTP server.
pub(super) struct Relay {
    pub(super) security: Security,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) credentials: Option<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Security {
    StartTls,
    Tls,
    None,
}

impl Relay {
    pub(super) fn parse(url: &str) -> Result<Relay, String> {
        const FORMS: &str = "use smtp://[user:pass@]host[:port] (STARTTLS), \
                             smtps://[user:pass@]host[:port] (TLS) or \
                             smtp://host[:port]?tls=none (plain text)";
        let bad = |why: &str| format!("invalid SMTP URL: {why}; {FORMS}");

        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let mut security = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => Security::StartTls,
            "smtps" => Security::Tls,
            other => return Err(bad(&format!("unsupported scheme {other:?}"))),
        };
        if rest.contains('#') {
            return Err(bad("a fragment (#) has no meaning here"));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if !path.is_empty() && path != "/" {
            return Err(bad(&format!("unexpected path {path:?}")));
        }

        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("tls", "none")) if security == Security::StartTls => {
                    security = Security::None
                }
                Some(("tls", "none")) => return Err(bad("smtps:// with tls=none contradicts")),
                Some(("tls", "required")) => {}
                Some(("tls", other)) => {
                    return Err(bad(&format!(
                        "tls={other:?} is not known (tls=required or tls=none)"
                    )))
                }
                _ if pair.is_empty() => {}
                _ => return Err(bad(&format!("unknown parameter {pair:?}"))),
            }
        }

        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo
                    .split_once(':')
                    .ok_or_else(|| bad("a user name needs a password (user:pass@host)"))?;
                let user = percent_decode(user).ok_or_else(|| bad("bad %-escape in the user"))?;
                let password =
                    percent_decode(password).ok_or_else(|| bad("bad %-escape in the password"))?;
                if user.is_empty() {
                    return Err(bad("empty user name"));
                }
                Some((user, password))
            }
        };

        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("junk after the IPv6 address"))?,
                ),
            };
            (host, port)
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '%') {
            return Err(bad(&format!("invalid host {host:?}")));
        }
        let port = match port {
            None => match security {
                Security::StartTls => 587,
                Security::Tls => 465,
                Security::None => 25,
            },
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("invalid port {port:?}")))?,
        };

        if security == Security::None && credentials.is_some() && !is_loopback(host) {
            return Err(format!(
                "refusing to send SMTP credentials unencrypted to {host}: \
                 drop tls=none (STARTTLS) or use smtps://"
            ));
        }
        Ok(Relay {
            security,
            host: host.to_owned(),
            port,
            credentials,
        })
    }

    /// For logs: the relay without its credentials.
    pub(super) fn describe(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let how = match self.security {
            Security::StartTls => "STARTTLS",
            Security::Tls => "TLS",
            Security::None => "no TLS",
        };
        format!("{host}:{} ({how})", self.port)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `%XX` escapes to bytes, then UTF-8. `None` on a broken escape or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Relay {
        Relay::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn url_forms() {
        let r = parse("smtp://user:p%40ss%3Aword@mail.example.org");
        assert_eq!(
            (r.security, r.host.as_str(), r.port),
            (Security::StartTls, "mail.example.org", 587)
        );
        assert_eq!(
            r.credentials,
            Some(("user".to_string(), "p@ss:word".to_string()))
        );

        let r = parse("smtps://mail.example.org");
        assert_eq!((r.security, r.port), (Security::Tls, 465));
        assert!(r.credentials.is_none());

        let r = parse("smtp://127.0.0.1:2525?tls=none");
        assert_eq!(
            (r.security, r.host.as_str(), r.port),
            (Security::None, "127.0.0.1", 2525)
        );
        assert_eq!(parse("smtp://relay.lan?tls=none").port, 25);
        assert_eq!(
            parse("SMTP://relay.lan:25/?tls=required").security,
            Security::StartTls
        );

        let r = parse("smtp://[::1]:2525?tls=none");
        assert_eq!((r.host.as_str(), r.port), ("::1", 2525));
        assert_eq!(r.describe(), "[::1]:2525 (no TLS)");

        // Credentials in plain text only to this host.
        assert!(Relay::parse("smtp://u:p@localhost:25?tls=none").is_ok());
        assert!(Relay::parse("smtp://u:p@[::1]:25?tls=none").is_ok());
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, says) in [
            ("mail.example.org", "no scheme"),
            ("http://mail.example.org", "unsupported scheme"),
            ("smtp://", "no host"),
            ("smtp://host:0", "invalid port"),
            ("smtp://host:99999", "invalid port"),
            ("smtp://host:25x", "invalid port"),
            ("smtp://host?tls=maybe", "tls=\"maybe\""),
            ("smtp://host?tsl=none", "unknown parameter"),
            ("smtps://host?tls=none", "contradicts"),
            ("smtp://user@host", "needs a password"),
            ("smtp://u:%zz@host", "%-escape"),
            ("smtp://host/path", "unexpected path"),
            ("smtp://[::1", "unclosed"),
            (
                "smtp://u:p@mail.example.org?tls=none",
                "refusing to send SMTP credentials",
            ),
        ] {
            match Relay::parse(url) {
                Ok(_) => panic!("{url} was accepted"),
                Err(e) => assert!(e.contains(says), "{url}: {e}"),
            }
        }
    }
}
