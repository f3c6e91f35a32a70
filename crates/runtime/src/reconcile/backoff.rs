//! Per-object exponential backoff of failed reconciles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Per-object exponential backoff between `--min-retry-delay` and `--max-retry-delay`.
#[derive(Debug)]
pub struct FailureBackoff {
    min: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl FailureBackoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure of `key` and returns how long to wait before retrying.
    pub fn next_delay(&self, key: &str) -> Duration {
        let failures = {
            let Ok(mut map) = self.failures.lock() else {
                return self.max;
            };
            let count = map.entry(key.to_owned()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let factor = 2f64.powi(i32::try_from(failures - 1).unwrap_or(i32::MAX).min(62));
        Duration::from_secs_f64((self.min.as_secs_f64() * factor).min(self.max.as_secs_f64()))
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max_and_resets() {
        let backoff = FailureBackoff::new(Duration::from_millis(750), Duration::from_secs(5));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay("a")).collect();
        assert_eq!(
            delays,
            [750, 1500, 3000, 5000, 5000].map(Duration::from_millis)
        );
        assert_eq!(backoff.next_delay("b"), Duration::from_millis(750));
        backoff.reset("a");
        assert_eq!(backoff.next_delay("a"), Duration::from_millis(750));
    }
}
