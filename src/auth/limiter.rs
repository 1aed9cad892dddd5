//! Login rate limiting: at most N failed attempts per login and per client address in a sliding
//! window; further attempts are refused until the window passes.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Failed-attempt counter per key (login, client address).
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds to wait before `keys` may try again, or `None` when allowed.
    pub fn blocked_for(&self, keys: &[String], now: DateTime<Utc>) -> Option<i64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|key| {
                let list = map.get_mut(key)?;
                list.retain(|t| now - *t < self.window);
                (list.len() >= self.max_failures)
                    .then(|| {
                        list.first()
                            .map(|first| (self.window - (now - *first)).num_seconds().max(1))
                    })
                    .flatten()
            })
            .max()
    }

    pub fn record_failure(&self, keys: &[String], now: DateTime<Utc>) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            // Bounded memory under a flood: forget old entries.
            map.retain(|_, list| list.iter().any(|t| now - *t < self.window));
        }
        for key in keys {
            map.entry(key.clone()).or_default().push(now);
        }
    }

    pub fn record_success(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_window_passes() {
        let limiter = LoginLimiter::new(3, Duration::minutes(5));
        let t0 = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let keys = vec!["login:op1".to_owned()];
        for i in 0..3 {
            assert!(limiter.blocked_for(&keys, t0).is_none(), "attempt {i}");
            limiter.record_failure(&keys, t0);
        }
        assert!(limiter
            .blocked_for(&keys, t0 + Duration::seconds(10))
            .is_some());
        assert!(limiter
            .blocked_for(&keys, t0 + Duration::minutes(6))
            .is_none());
    }
}
