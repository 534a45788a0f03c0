//! In-memory limiters: requests per API key, signups per client address, and concurrent pushes
//! per user. Per process, as in the reference; a restart forgets them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

pub struct Limiters {
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    signup: Option<DefaultKeyedRateLimiter<IpAddr>>,
    share_passwords: DefaultKeyedRateLimiter<String>,
    pushes: PushSlots,
}

/// Password attempts allowed per share link per minute.
const SHARE_PASSWORD_ATTEMPTS_PER_MINUTE: u32 = 10;

impl Limiters {
    pub fn new(
        per_minute: u32,
        signups_per_hour: u32,
        pushes_per_user: usize,
        push_wait: Duration,
    ) -> Limiters {
        Limiters {
            per_key: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            signup: NonZeroU32::new(signups_per_hour)
                .map(|n| RateLimiter::keyed(Quota::per_hour(n))),
            share_passwords: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(SHARE_PASSWORD_ATTEMPTS_PER_MINUTE).expect("non-zero"),
            )),
            pushes: PushSlots {
                per_user: pushes_per_user.max(1),
                wait: push_wait,
                slots: Mutex::new(HashMap::new()),
            },
        }
    }

    /// Charges one request to the key with this hash.
    pub fn check_key(&self, key_hash: &str) -> Result<(), ApiError> {
        match &self.per_key {
            Some(limiter) if limiter.check_key(&key_hash.to_string()).is_err() => {
                Err(ApiError::too_many("Rate limit exceeded"))
            }
            _ => Ok(()),
        }
    }

    /// Charges one signup attempt to the client address.
    pub fn check_signup(&self, ip: IpAddr) -> Result<(), ApiError> {
        match &self.signup {
            Some(limiter) if limiter.check_key(&ip).is_err() => Err(ApiError::too_many(
                "Too many signup attempts. Try again later.",
            )),
            _ => Ok(()),
        }
    }

    /// Charges one password attempt to a share link (by its token hash); `false` when the
    /// link has had too many attempts this minute.
    pub fn allow_share_password(&self, token_hash: &str) -> bool {
        self.share_passwords
            .check_key(&token_hash.to_string())
            .is_ok()
    }

    /// Waits for one of the user's push slots.
    pub async fn push_slot(&self, user_id: &str) -> Result<OwnedSemaphorePermit, ApiError> {
        self.pushes.acquire(user_id).await
    }

    /// Forgets idle entries so the maps do not grow without bound.
    pub fn prune(&self) {
        if let Some(l) = &self.per_key {
            l.retain_recent();
        }
        if let Some(l) = &self.signup {
            l.retain_recent();
        }
        self.share_passwords.retain_recent();
        self.pushes.prune();
    }
}

struct PushSlots {
    per_user: usize,
    wait: Duration,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl PushSlots {
    async fn acquire(&self, user_id: &str) -> Result<OwnedSemaphorePermit, ApiError> {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .entry(user_id.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_user)))
                .clone()
        };
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::structured(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "sync_rate_limit",
                "Too many concurrent syncs. Please wait.",
            )
            .retry_after(5)),
        }
    }

    fn prune(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Only this map holds a semaphore whose permits are all free and nobody waits on it.
        slots.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < self.per_user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_apply_per_key_and_per_user() {
        let limits = Limiters::new(2, 1, 1, Duration::from_millis(20));
        assert!(limits.check_key("a").is_ok());
        assert!(limits.check_key("a").is_ok());
        assert_eq!(limits.check_key("a").unwrap_err().status, 429);
        assert!(limits.check_key("b").is_ok());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.check_signup(ip).is_ok());
        assert!(limits.check_signup(ip).is_err());
        let held = limits.push_slot("u").await.unwrap();
        let err = limits.push_slot("u").await.unwrap_err();
        assert_eq!(err.details["error"], "sync_rate_limit");
        assert!(limits.push_slot("v").await.is_ok());
        drop(held);
        assert!(limits.push_slot("u").await.is_ok());
        let off = Limiters::new(0, 0, 3, Duration::from_millis(1));
        for _ in 0..500 {
            assert!(off.check_key("a").is_ok());
        }
    }
}
