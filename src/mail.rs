//! Outgoing email: account verification, org invites and handoff notices.
//!
//! Mail is optional (ruling 6). Without an SMTP URL the [`Mailer`] is disabled: nothing is sent,
//! accounts are verified at signup, and every route still answers as it would with mail on. With
//! one, [`Mailer::send`] hands the message to a background task, so a slow or broken relay never
//! adds latency to a request or turns it into an error; failures are logged with `tracing::warn`.
//! Routes that report whether a mail went out (`resend`) use [`Mailer::send_now`].
//!
//! # The SMTP URL
//!
//! | URL | connection |
//! | --- | --- |
//! | `smtp://user:pass@host[:port]` | STARTTLS, required (default port 587) |
//! | `smtps://user:pass@host[:port]` | TLS from the first byte (default port 465) |
//! | `smtp://host[:port]?tls=none` | plain text, for a relay on this host or a trusted network (default port 25) |
//!
//! `user:pass` is optional and percent-decoded (write `@` in a password as `%40`). Encryption is
//! the default and plain text must be asked for by name: lettre's own `from_url` reads a bare
//! `smtp://` as plain text, which would send passwords and verification links in the clear after
//! a one-letter slip, so the URL is parsed here. For the same reason credentials are refused on a
//! `tls=none` connection unless the relay is on the loopback interface.
//!
//! TLS is rustls (ring) verified against the operating system's certificate store, not a bundled
//! list: an air-gapped install's relay usually has a certificate from the organisation's own CA,
//! which the operator has already added to the system store.
//!
//! # The messages
//!
//! Plain text only, and the only links they hold point at the server's own `--public-url`
//! (ruling 5: nothing in what we send names a hosted service). User-supplied text (org names,
//! session titles) is flattened to one line before it goes in a subject, so it can never add a
//! header; [`Mailer::send`] refuses a subject or address with CR or LF all the same.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How long one SMTP conversation may stall before it is abandoned. `send_now` runs inside a
/// request, so this bounds how long a `resend` can take against a dead relay.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Subjects stay short; a long session title or org name is cut to this many characters.
const SUBJECT_PART_CHARS: usize = 80;

/// Sends the server's email, or nothing when no SMTP server is configured.
///
/// Mail is optional: with no SMTP URL nothing is sent and the API still works (ruling 6).
/// Cloning is cheap (the relay is shared).
#[derive(Clone)]
pub struct Mailer {
    smtp: Option<Arc<Smtp>>,
}

/// A configured relay: the transport, the From address, and a description for logs that never
/// includes the credentials.
struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.smtp {
            None => f.write_str("Mailer(disabled)"),
            Some(smtp) => write!(f, "Mailer({} from {})", smtp.relay, smtp.from),
        }
    }
}

impl Mailer {
    /// A mailer that sends nothing.
    pub fn disabled() -> Mailer {
        Mailer { smtp: None }
    }

    /// Builds the mailer from `--smtp-url` and `--smtp-from`.
    ///
    /// `smtp_url` follows the convention in the module docs: `smtp://user:pass@host:587`
    /// (STARTTLS), `smtps://user:pass@host:465` (TLS) or `smtp://127.0.0.1:2525?tls=none` (plain
    /// text). `None` or an empty URL gives a disabled mailer. `from` is the From address, as
    /// `noreply@example.org` or `SessionFS <noreply@example.org>`; it is required when a URL is
    /// set. Nothing is contacted here: a relay that is down shows up when mail is sent.
    pub fn from_config(smtp_url: Option<&str>, from: Option<&str>) -> Result<Mailer, String> {
        let Some(url) = smtp_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Mailer::disabled());
        };
        let relay = Relay::parse(url)?;
        let from = from
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                "an SMTP URL is set but no From address: set --smtp-from (e.g. noreply@example.org)"
                    .to_string()
            })?;
        if has_line_break(from) {
            return Err("the From address must be on one line".into());
        }
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("invalid From address {from:?}: {e}"))?;

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&relay.host)
            .port(relay.port)
            .timeout(Some(SMTP_TIMEOUT));
        let tls_parameters = || {
            TlsParameters::new(relay.host.clone())
                .map_err(|e| format!("cannot set up TLS for {}: {}", relay.host, chain(&e)))
        };
        builder = match relay.security {
            Security::StartTls => builder.tls(Tls::Required(tls_parameters()?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls_parameters()?)),
            Security::None => builder.tls(Tls::None),
        };
        if let Some((user, password)) = &relay.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            smtp: Some(Arc::new(Smtp {
                transport: builder.build(),
                from,
                relay: relay.describe(),
            })),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.smtp.is_some()
    }

    /// Sends in the background (`tokio::spawn`); failures are logged with `tracing::warn` and
    /// never returned: a request must never fail because mail failed. Does nothing when mail is
    /// disabled, and outside a tokio runtime only logs.
    pub fn send(&self, to: &str, subject: &str, text_body: &str) {
        let Some(smtp) = &self.smtp else {
            tracing::debug!(to, subject, "mail disabled, not sent");
            return;
        };
        let message = match smtp.message(to, subject, text_body) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(to, subject, %error, "mail not sent");
                return;
            }
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                to,
                subject,
                "mail not sent: no async runtime to send it from"
            );
            return;
        };
        let smtp = Arc::clone(smtp);
        let to = to.to_owned();
        let subject = subject.to_owned();
        runtime.spawn(async move {
            match smtp.deliver(message).await {
                Ok(()) => tracing::debug!(to, subject, relay = %smtp.relay, "mail sent"),
                Err(error) => {
                    tracing::warn!(to, subject, relay = %smtp.relay, %error, "mail not sent")
                }
            }
        });
    }

    /// Same as [`send`](Self::send), but awaits the result (for `resend` routes that report
    /// `sent: bool`, and for tests). Disabled mail is an error too: nothing was sent.
    pub async fn send_now(&self, to: &str, subject: &str, text_body: &str) -> Result<(), String> {
        let smtp = self
            .smtp
            .as_ref()
            .ok_or_else(|| "mail is disabled: no SMTP server is configured".to_string())?;
        let message = smtp.message(to, subject, text_body)?;
        smtp.deliver(message).await
    }
}

impl Smtp {
    /// A plain-text message, refusing anything that could add a header.
    fn message(&self, to: &str, subject: &str, text_body: &str) -> Result<Message, String> {
        if has_line_break(to) {
            return Err("recipient address contains a line break".into());
        }
        if has_line_break(subject) {
            return Err("subject contains a line break".into());
        }
        let to: Mailbox = to
            .trim()
            .parse()
            .map_err(|e| format!("invalid recipient address {to:?}: {e}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(text_body.to_owned())
            .map_err(|e| format!("cannot build the message: {}", chain(&e)))
    }

    async fn deliver(&self, message: Message) -> Result<(), String> {
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| format!("SMTP {}: {}", self.relay, chain(&e)))
    }
}

/// The parsed SMTP URL.
struct Relay {
    security: Security,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Security {
    StartTls,
    Tls,
    None,
}

impl Relay {
    fn parse(url: &str) -> Result<Relay, String> {
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
    fn describe(&self) -> String {
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

fn has_line_break(text: &str) -> bool {
    text.contains(['\r', '\n'])
}

/// An error with its sources, since lettre's `Display` leaves the cause (refused, timed out,
/// bad certificate) in `source()`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// User text for a subject or a one-line field: control characters (line breaks included)
/// become spaces, runs of whitespace one space, and it is cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = flat.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= max {
        joined
    } else {
        let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// User text quoted in a body: each line prefixed with `> `, control characters other than the
/// line break dropped (no terminal escapes in a mail read in a terminal).
fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| {
            let clean: String = line.chars().filter(|c| !c.is_control()).collect();
            format!("> {}", clean.trim_end())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn base(public_url: &str) -> &str {
    public_url.trim_end_matches('/')
}

const FOOTER: &str = "If you did not expect this email, you can ignore it.";

/// The email-address verification mail: `(subject, body)`. The link is
/// `{public_url}/api/v1/auth/verify?token=…`.
pub fn verification_message(public_url: &str, token: &str) -> (String, String) {
    let base = base(public_url);
    let token: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let subject = "Verify your email address for SessionFS".to_string();
    let body = format!(
        "Welcome to SessionFS.\n\
         \n\
         Open this link to verify your email address and turn on cloud sync:\n\
         \n\
         {base}/api/v1/auth/verify?token={token}\n\
         \n\
         The account is on the SessionFS server at:\n\
         {base}\n\
         \n\
         If you did not create it, ignore this email: the account stays unverified.\n"
    );
    (subject, body)
}

/// The org invite mail: `(subject, body)`. It gives the invite id and the accept route,
/// `POST {public_url}/api/v1/org/invite/{invite_id}/accept`, as a command to run: the `sfs`
/// client (0.26) has `sfs org invite` but no command to accept one.
pub fn invite_message(
    public_url: &str,
    org_name: &str,
    inviter_email: &str,
    invite_id: &str,
    role: &str,
) -> (String, String) {
    let base = base(public_url);
    let org = one_line(org_name, SUBJECT_PART_CHARS);
    let inviter = one_line(inviter_email, SUBJECT_PART_CHARS);
    let role = one_line(role, 20);
    let id = one_line(invite_id, 64);
    let subject = format!("{inviter} invited you to {org} on SessionFS");
    let body = format!(
        "You are invited to join an organization on the SessionFS server at:\n\
         {base}\n\
         \n\
         Organization: {org}\n\
         Role:         {role}\n\
         Invited by:   {inviter}\n\
         \n\
         To accept:\n\
         \n\
         1. If you have no account on this server yet, create one with the\n\
         \x20  address this email was sent to:\n\
         \n\
         \x20    sfs auth signup --url {base}\n\
         \n\
         2. Accept the invite with your API key (the one sfs auth signup printed):\n\
         \n\
         \x20    curl -X POST -H \"Authorization: Bearer YOUR_API_KEY\" \\\n\
         \x20         {base}/api/v1/org/invite/{id}/accept\n\
         \n\
         \x20  That is POST {base}/api/v1/org/invite/{id}/accept\n\
         \x20  with your key, from any HTTP client.\n\
         \n\
         Invite ID: {id}\n\
         The invite expires 7 days after it was sent.\n\
         \n\
         {FOOTER}\n"
    );
    (subject, body)
}

/// The handoff notice: `(subject, body)`. It tells the recipient to run
/// `sfs pull-handoff <handoff_id>`, and quotes the sender's message if there is one.
pub fn handoff_message(
    public_url: &str,
    sender_email: &str,
    session_title: &str,
    handoff_id: &str,
    message: Option<&str>,
) -> (String, String) {
    let base = base(public_url);
    let sender = one_line(sender_email, SUBJECT_PART_CHARS);
    let title = match one_line(session_title, SUBJECT_PART_CHARS) {
        t if t.is_empty() => "Untitled session".to_string(),
        t => t,
    };
    let id = one_line(handoff_id, 64);
    let subject = format!("{sender} handed off a session to you: {title}");
    let note = match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => format!("Message from {sender}:\n\n{}\n\n", quoted(m)),
        None => String::new(),
    };
    let body = format!(
        "A session was handed off to you on the SessionFS server at:\n\
         {base}\n\
         \n\
         Session: {title}\n\
         From:    {sender}\n\
         \n\
         {note}\
         To pull it into your tools, run:\n\
         \n\
         \x20    sfs pull-handoff {id}\n\
         \n\
         The sfs client must be signed in to this server:\n\
         \n\
         \x20    sfs auth login --url {base}\n\
         \n\
         Summary:    {base}/api/v1/handoffs/{id}/summary\n\
         Handoff ID: {id}\n\
         \n\
         {FOOTER}\n"
    );
    (subject, body)
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

    #[test]
    fn config() {
        assert!(!Mailer::from_config(None, None).unwrap().is_enabled());
        assert!(!Mailer::from_config(Some("  "), Some("a@b.c"))
            .unwrap()
            .is_enabled());
        let missing_from = Mailer::from_config(Some("smtp://127.0.0.1:25?tls=none"), None);
        assert!(missing_from.unwrap_err().contains("From address"));
        let bad_from = Mailer::from_config(Some("smtp://127.0.0.1:25?tls=none"), Some("nope"));
        assert!(bad_from.unwrap_err().contains("invalid From address"));
        let injected = Mailer::from_config(
            Some("smtp://127.0.0.1:25?tls=none"),
            Some("a@b.c\r\nBcc: x@y.z"),
        );
        assert!(injected.is_err());
        let mailer = Mailer::from_config(
            Some("smtp://user:secret@mail.example.org"),
            Some("SessionFS <noreply@example.org>"),
        )
        .unwrap();
        assert!(mailer.is_enabled());
        let shown = format!("{mailer:?}");
        assert!(shown.contains("mail.example.org:587 (STARTTLS)"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn user_text_cannot_break_a_subject() {
        let (subject, body) = invite_message(
            "https://sfs.example.org/",
            "Evil\r\nBcc: victim@example.org",
            "admin@example.org",
            "inv_0123456789abcdef",
            "member",
        );
        assert!(!has_line_break(&subject), "{subject:?}");
        assert!(subject.contains("Evil Bcc: victim@example.org"));
        assert!(
            body.contains("https://sfs.example.org/api/v1/org/invite/inv_0123456789abcdef/accept")
        );
        assert!(!body.contains("org//"));

        let long = "x".repeat(500);
        let (subject, _) = handoff_message("http://h", "a@b.c", &long, "hnd_1", None);
        assert!(subject.chars().count() < 160, "{subject}");
    }

    #[test]
    fn messages_link_only_to_the_public_url() {
        let base = "https://sfs.internal.example";
        let (_, verify) = verification_message(base, "abc+/=def");
        let (_, invite) = invite_message(base, "Acme", "boss@acme.test", "inv_1", "admin");
        let (_, handoff) = handoff_message(
            base,
            "alice@acme.test",
            "Fix the parser",
            "hnd_abc",
            Some("see line 3\n\u{1b}[31mred"),
        );
        assert!(verify.contains(&format!("{base}/api/v1/auth/verify?token=abc%2B%2F%3Ddef")));
        assert!(handoff.contains("sfs pull-handoff hnd_abc"));
        assert!(handoff.contains("> see line 3\n> [31mred"));
        for body in [&verify, &invite, &handoff] {
            for word in body.split_whitespace() {
                if word.contains("://") {
                    let link = word.trim_start_matches(['"', '(']);
                    assert!(link.starts_with(base), "foreign link {word} in {body}");
                }
            }
            assert!(!body.contains("sessionfs.dev"));
        }
    }
}
