//! The mailer against a real SMTP conversation: a small sink on `127.0.0.1:0`
//! (`tests/common/smtp_sink.rs`) speaks just enough SMTP (no TLS, `?tls=none`) to take
//! messages and hand them to the test.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::smtp_sink::{Sink, FROM};
use sessionfs_server::mail::{self, Mailer};
use tokio::net::TcpListener;
use tokio::time::timeout;

const PUBLIC_URL: &str = "http://sfs.test:8000";

/// A port with nothing listening: bound, read, released.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// Log lines written by `tracing` while the guard lives, on this thread (the tests run on a
/// current-thread runtime, so spawned sends log here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

#[tokio::test]
async fn send_now_delivers_the_invite() {
    let mut sink = Sink::start().await;
    let mailer = sink.mailer();
    assert!(mailer.is_enabled());

    let (subject, body) = mail::invite_message(
        PUBLIC_URL,
        "Acme Research",
        "admin@acme.test",
        "inv_0123456789abcdef",
        "member",
    );
    mailer
        .send_now("bob@example.org", &subject, &body)
        .await
        .expect("delivered");

    let mail = sink.next_mail().await;
    assert_eq!(mail.mail_from, "noreply@sfs.test");
    assert_eq!(mail.rcpt_to, vec!["bob@example.org".to_string()]);
    assert_eq!(mail.header("To").as_deref(), Some("bob@example.org"));
    let from = mail.header("From").unwrap();
    assert!(from.contains("<noreply@sfs.test>"), "{from}");
    assert_eq!(mail.header("Subject").as_deref(), Some(subject.as_str()));
    let content_type = mail.header("Content-Type").unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");

    let text = mail.body();
    assert!(
        text.contains("POST http://sfs.test:8000/api/v1/org/invite/inv_0123456789abcdef/accept"),
        "{text}"
    );
    assert!(text.contains("curl -X POST"), "{text}");
    assert!(
        text.contains("sfs auth signup --url http://sfs.test:8000"),
        "{text}"
    );
    assert!(text.contains("Acme Research"), "{text}");
    assert!(text.contains("member"), "{text}");
}

#[tokio::test]
async fn long_links_survive_transfer_encoding() {
    let mut sink = Sink::start().await;
    let token = "t".repeat(120);
    let (subject, body) = mail::verification_message(PUBLIC_URL, &token);
    sink.mailer()
        .send_now("new@example.org", &subject, &body)
        .await
        .unwrap();
    let mail = sink.next_mail().await;
    let link = format!("{PUBLIC_URL}/api/v1/auth/verify?token={token}");
    assert!(mail.body().contains(&link), "{}", mail.data);
}

#[tokio::test]
async fn send_delivers_in_the_background() {
    let mut sink = Sink::start().await;
    let (subject, body) = mail::handoff_message(
        PUBLIC_URL,
        "alice@acme.test",
        "Fix the parser",
        "hnd_00112233445566778899aabbccddeeff",
        Some("Half done, tests fail on line 3."),
    );
    // Returns at once; the message goes out on a spawned task.
    sink.mailer().send("carol@example.org", &subject, &body);

    let mail = sink.next_mail().await;
    assert_eq!(mail.rcpt_to, vec!["carol@example.org".to_string()]);
    let text = mail.body();
    assert!(
        text.contains("sfs pull-handoff hnd_00112233445566778899aabbccddeeff"),
        "{text}"
    );
    assert!(
        text.contains("> Half done, tests fail on line 3."),
        "{text}"
    );
}

#[tokio::test]
async fn disabled_mailer_sends_nothing() {
    let sink = Sink::start().await;
    for mailer in [
        Mailer::disabled(),
        Mailer::from_config(None, Some(FROM)).unwrap(),
        Mailer::from_config(Some(""), None).unwrap(),
    ] {
        assert!(!mailer.is_enabled());
        mailer.send("bob@example.org", "hello", "body");
        let err = mailer
            .send_now("bob@example.org", "hello", "body")
            .await
            .unwrap_err();
        assert!(err.contains("disabled"), "{err}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bad_configuration_is_explained() {
    let err = Mailer::from_config(Some("mail.example.org:587"), Some(FROM)).unwrap_err();
    assert!(
        err.contains("invalid SMTP URL") && err.contains("smtps://"),
        "{err}"
    );
    let err = Mailer::from_config(Some("imap://mail.example.org"), Some(FROM)).unwrap_err();
    assert!(err.contains("unsupported scheme"), "{err}");
    let err = Mailer::from_config(Some("smtp://mail.example.org:http"), Some(FROM)).unwrap_err();
    assert!(err.contains("invalid port"), "{err}");
    let err = Mailer::from_config(Some("smtp://mail.example.org"), None).unwrap_err();
    assert!(err.contains("From address"), "{err}");
    let err =
        Mailer::from_config(Some("smtp://mail.example.org"), Some("not an address")).unwrap_err();
    assert!(err.contains("invalid From address"), "{err}");
    // Every accepted form builds.
    for url in [
        "smtp://user:pass@mail.example.org:587",
        "smtps://mail.example.org",
        "smtp://127.0.0.1:2525?tls=none",
    ] {
        assert!(Mailer::from_config(Some(url), Some(FROM))
            .unwrap()
            .is_enabled());
    }
}

#[tokio::test]
async fn header_injection_is_refused() {
    let sink = Sink::start().await;
    let mailer = sink.mailer();
    let err = mailer
        .send_now("bob@example.org", "hi\r\nBcc: eve@example.org", "body")
        .await
        .unwrap_err();
    assert!(err.contains("line break"), "{err}");
    let err = mailer
        .send_now("bob@example.org\r\nBcc: eve@example.org", "hi", "body")
        .await
        .unwrap_err();
    assert!(err.contains("line break"), "{err}");
    let err = mailer
        .send_now("not an address", "hi", "body")
        .await
        .unwrap_err();
    assert!(err.contains("invalid recipient"), "{err}");

    let logs = Captured::default();
    let _guard = logs.install();
    mailer.send("bob@example.org", "hi\nBcc: eve@example.org", "body");
    assert!(logs.text().contains("mail not sent"), "{}", logs.text());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn unreachable_relay_errors_without_failing_the_caller() {
    let port = closed_port().await;
    let mailer = Mailer::from_config(
        Some(&format!("smtp://127.0.0.1:{port}?tls=none")),
        Some(FROM),
    )
    .unwrap();

    let err = timeout(
        Duration::from_secs(30),
        mailer.send_now("bob@example.org", "hi", "body"),
    )
    .await
    .expect("send_now gives up")
    .unwrap_err();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");

    let logs = Captured::default();
    let _guard = logs.install();
    mailer.send("bob@example.org", "hi", "body");
    let logged = timeout(Duration::from_secs(10), async {
        loop {
            if logs.text().contains("mail not sent") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(logged.is_ok(), "no warning logged: {}", logs.text());
    assert!(logs.text().contains("WARN"), "{}", logs.text());
}
