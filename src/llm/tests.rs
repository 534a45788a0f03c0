//! The connection path of the guard, against fakes on loopback only.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::guard::{BoxFuture, GuardError, Resolver};
use super::*;

/// A resolver double: answers `first` on the first lookup, `then` on every later one.
struct Rebinding {
    calls: AtomicUsize,
    first: IpAddr,
    then: IpAddr,
}

impl Resolver for Rebinding {
    fn lookup(&self, _host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let ip = if n == 0 { self.first } else { self.then };
        Box::pin(async move { Ok(vec![ip]) })
    }
}

/// A loopback listener that counts the connections it accepts and answers each with `reply`.
async fn fake(reply: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, accepted)
}

fn request(base: &str) -> LlmRequest {
    LlmRequest {
        provider: "custom".into(),
        model: "llama3".into(),
        api_key: Plain::new("sk-test-secret-key"),
        base_url: Some(base.into()),
        system: "s".into(),
        user: "u".into(),
        max_tokens: 16,
    }
}

/// DNS rebinding: the save-time lookup answers a public address, the request's lookup a
/// private one. The request is refused inside the connection's own lookup, before any packet
/// leaves; the public answer is never connected to. (The later answer is a loopback listener,
/// so even a broken guard could only reach this machine.)
#[tokio::test]
async fn a_rebinding_answer_is_refused_before_connecting() {
    let (port, accepted) = fake("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
    let resolver = Arc::new(Rebinding {
        calls: AtomicUsize::new(0),
        first: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
        then: IpAddr::V4(Ipv4Addr::LOCALHOST),
    });
    let out = Outbound::with_resolver(&OutboundConfig::default(), resolver.clone());
    let url = format!("https://judge.rebind.test:{port}/v1");
    assert_eq!(out.check_llm_url(&url).await.unwrap(), url);
    let err = complete(&request(&url), &out).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Blocked(GuardError::Private(ip)) if ip.is_loopback()),
        "{err:?}"
    );
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 2);
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
}

/// A redirect from the loopback fake to another address is answered, never followed.
#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (port, accepted) = fake(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://10.0.0.1/v1/chat/completions\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let config = OutboundConfig {
        llm_allow_private_hosts: true,
        loopback_only: true,
        ..Default::default()
    };
    let out = Outbound::new(&config);
    let err = complete(&request(&format!("http://127.0.0.1:{port}/v1")), &out)
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Redirect(307)), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// The test tripwire refuses any host name but localhost before a lookup, and any
/// non-loopback address, whatever the private-hosts flag says.
#[tokio::test]
async fn the_loopback_tripwire_refuses_everything_else() {
    let config = OutboundConfig {
        llm_allow_private_hosts: true,
        loopback_only: true,
        ..Default::default()
    };
    let out = Outbound::new(&config);
    for url in [
        "https://api.openai.com/v1",
        "http://10.0.0.1/v1",
        "http://[fd00::1]/v1",
    ] {
        let err = complete(&request(url), &out).await.unwrap_err();
        assert!(
            matches!(err, LlmError::Blocked(GuardError::NotLoopback(_))),
            "{url}: {err:?}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_are_cut_off_and_keys_never_quoted() {
    let (port, _) = fake(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"error\":\"bad key sk-test-secret-key for this model\"}",
    )
    .await;
    let config = OutboundConfig {
        llm_allow_private_hosts: true,
        loopback_only: true,
        ..Default::default()
    };
    let out = Outbound::new(&config);
    let err = complete(&request(&format!("http://127.0.0.1:{port}/v1")), &out)
        .await
        .unwrap_err();
    match err {
        LlmError::Status { status, body } => {
            assert_eq!(status, 401);
            assert!(!body.contains("sk-test-secret-key"), "{body}");
            assert!(body.contains("[redacted]"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn urls_are_built_as_the_contract_says() {
    assert_eq!(chat_url("http://h/v1"), "http://h/v1/chat/completions");
    assert_eq!(
        chat_url("http://h/v1/chat/completions"),
        "http://h/v1/chat/completions"
    );
    assert_eq!(models_url("http://h/v1"), "http://h/v1/models");
    assert_eq!(models_url("http://h/api/models"), "http://h/api/models");
    assert_eq!(models_url("http://h"), "http://h/v1/models");
    let v = serde_json::json!({"models": ["a", {"model": "b", "owned_by": "me"}, 3]});
    let m = parse_models(&v).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].id, "b");
    assert_eq!(m[1].owned_by, "me");
}

/// The operator's `--judge-base-url` may be private without the flag; no other private URL may.
#[tokio::test]
async fn the_operator_url_alone_may_be_private() {
    let (port, accepted) = fake(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"choices\":[{\"message\":{\"content\":\"fine\"}}]}",
    )
    .await;
    let operator = format!("http://127.0.0.1:{port}/v1");
    let config = OutboundConfig {
        judge_base_url: Some(operator.clone()),
        loopback_only: true,
        ..Default::default()
    };
    let out = Outbound::new(&config);
    assert_eq!(complete(&request(&operator), &out).await.unwrap(), "fine");
    assert_eq!(out.check_llm_url(&operator).await.unwrap(), operator);
    let other = format!("http://127.0.0.1:{port}/other");
    let err = complete(&request(&other), &out).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Blocked(GuardError::Scheme)),
        "{err:?}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}
