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
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

mod messages;
mod relay;

pub use messages::{handoff_message, invite_message, verification_message};
use relay::{Relay, Security};

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
#[cfg(test)]
mod tests {
    use super::*;

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
}
