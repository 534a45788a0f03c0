//! systemd integration for `Type=notify` units: readiness, watchdog and stopping.
//!
//! Under systemd (`packaging/sessionfs-server.service`) the service manager passes
//! `NOTIFY_SOCKET` (and `WATCHDOG_USEC` when `WatchdogSec=` is set). We tell it:
//!
//! - `READY=1` once the listener is bound, so `systemctl start` returns only when the server
//!   accepts connections (migrations and the integrity check have already run by then), and
//!   units ordered `After=sessionfs-server.service` start against a live API;
//! - `WATCHDOG=1` every half watchdog interval from a tokio task, so a wedged async runtime
//!   gets the process killed and restarted (`Restart=on-failure`);
//! - `STOPPING=1` once the server has stopped serving (in-flight requests finished), just before
//!   the process exits. systemd already knows a stop it asked for (it sent the SIGTERM); the
//!   message matters for a stop it did not ask for, and the status line says what is going on.
//!
//! Everything here is a silent no-op without `NOTIFY_SOCKET` (a laptop, a container, a test), so
//! callers never need to ask whether systemd is there. A failed notification is logged and
//! otherwise ignored: it must never take the server down. The datagram itself is sent by the
//! `sd-notify` crate rather than by hand-written socket code.

use std::net::SocketAddr;
use std::time::Duration;

use sd_notify::NotifyState;

/// The environment variable systemd sets to the notification socket's path.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Never ping more often than this, whatever `WATCHDOG_USEC` says (tokio's interval also
/// refuses a zero period).
const MIN_PING_INTERVAL: Duration = Duration::from_millis(10);

/// True when a service manager is listening for our notifications.
pub fn under_systemd() -> bool {
    std::env::var_os(NOTIFY_SOCKET).is_some_and(|s| !s.is_empty())
}

/// The status line shown by `systemctl status` once we serve.
pub fn ready_status(addr: SocketAddr) -> String {
    format!("listening on http://{addr}")
}

/// Tells systemd the server is ready (`READY=1`) and what it listens on (`STATUS=`).
/// Call it after the listener is bound. Returns whether a notification was sent.
pub fn notify_ready(addr: SocketAddr) -> bool {
    let status = ready_status(addr);
    send(
        &[NotifyState::Ready, NotifyState::Status(&status)],
        "READY=1",
    )
}

/// Tells systemd that the server is shutting down (`STOPPING=1`). Returns whether a
/// notification was sent.
pub fn notify_stopping() -> bool {
    send(
        &[NotifyState::Stopping, NotifyState::Status("stopping")],
        "STOPPING=1",
    )
}

/// How often to ping for a watchdog timeout: half of it (systemd's own advice), at least
/// [`MIN_PING_INTERVAL`]. `None` when the timeout is zero (watchdog off).
pub fn ping_interval(timeout: Duration) -> Option<Duration> {
    if timeout.is_zero() {
        return None;
    }
    Some((timeout / 2).max(MIN_PING_INTERVAL))
}

/// Reads the watchdog timeout the way `sd_watchdog_enabled(3)` does: `usec` is
/// `WATCHDOG_USEC`, `pid` is `WATCHDOG_PID` (when set, the watchdog is ours only if it names
/// `own_pid`). `None` when there is no usable watchdog.
pub fn watchdog_timeout(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// When systemd asked for a watchdog (`WATCHDOG_USEC`, and we are `WATCHDOG_PID` if set) and
/// listens (`NOTIFY_SOCKET`), starts a tokio task that sends `WATCHDOG=1` every half
/// interval and returns its handle; otherwise does nothing and returns `None`.
///
/// The ping runs on the async runtime, so it proves the runtime still schedules work: a
/// runtime whose workers are all blocked stops pinging and systemd restarts the service.
/// Must be called from inside a tokio runtime.
pub fn spawn_watchdog() -> Option<tokio::task::JoinHandle<()>> {
    if !under_systemd() {
        return None;
    }
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    let timeout = watchdog_timeout(usec.as_deref(), pid.as_deref(), std::process::id())?;
    let every = ping_interval(timeout)?;
    tracing::info!(
        timeout_ms = timeout.as_millis() as u64,
        ping_ms = every.as_millis() as u64,
        "systemd watchdog on"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog], "WATCHDOG=1");
        }
    }))
}

/// Sends `states` if systemd listens; logs (never fails) when the send does not go through.
fn send(states: &[NotifyState], what: &str) -> bool {
    if !under_systemd() {
        return false;
    }
    match sd_notify::notify(states) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "could not send {what} to systemd");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tests never set NOTIFY_SOCKET (changing the environment races with other test threads);
    // tests/packaging.rs runs the real binary with a notification socket of its own.

    #[test]
    fn without_notify_socket_everything_is_a_no_op() {
        if under_systemd() {
            eprintln!("skipped: these tests run under a systemd NOTIFY_SOCKET");
            return;
        }
        let addr: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        assert!(!notify_ready(addr));
        assert!(!notify_stopping());
    }

    #[tokio::test]
    async fn without_notify_socket_no_watchdog_task_is_started() {
        if under_systemd() {
            return;
        }
        assert!(spawn_watchdog().is_none());
    }

    #[test]
    fn status_names_the_address() {
        let addr: SocketAddr = "[::1]:9000".parse().unwrap();
        assert_eq!(ready_status(addr), "listening on http://[::1]:9000");
    }

    #[test]
    fn pings_at_half_the_timeout() {
        assert_eq!(
            ping_interval(Duration::from_secs(30)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            ping_interval(Duration::from_micros(3)),
            Some(MIN_PING_INTERVAL)
        );
        assert_eq!(ping_interval(Duration::ZERO), None);
    }

    #[test]
    fn reads_the_watchdog_environment_like_sd_watchdog_enabled() {
        let me = 4242;
        let thirty = Some(Duration::from_secs(30));
        assert_eq!(watchdog_timeout(Some("30000000"), None, me), thirty);
        assert_eq!(watchdog_timeout(Some("30000000"), Some("4242"), me), thirty);
        // Meant for another process (a parent that did not unset it).
        assert_eq!(watchdog_timeout(Some("30000000"), Some("1"), me), None);
        assert_eq!(watchdog_timeout(Some("30000000"), Some("x"), me), None);
        assert_eq!(watchdog_timeout(None, Some("4242"), me), None);
        assert_eq!(watchdog_timeout(Some("0"), None, me), None);
        assert_eq!(watchdog_timeout(Some("soon"), None, me), None);
    }
}
