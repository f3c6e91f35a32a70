//! How watches retry. kube's default backs off up to 30 s and forgets its failures only after
//! two quiet minutes, so after an API server restart each watch could wait half a minute per
//! attempt: the relist that follows a `410 Gone` came a minute after the API server was back,
//! and reconciles ran on a stale cache meanwhile. Watches here retry quickly and never wait
//! more than a few seconds; any good event starts them over from the shortest delay.

use std::time::Duration;

use kube::runtime::utils::Backoff;

const FIRST: Duration = Duration::from_millis(250);
const LONGEST: Duration = Duration::from_secs(5);

/// Doubling delays from 250 ms to 5 s, each shortened by up to a fifth so that many watches
/// do not retry in step.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (delay * 2).min(LONGEST);
        let jitter = delay.mul_f64(rand::random_range(0.0..0.2));
        Some(delay - jitter)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_five_seconds_and_start_over_on_reset() {
        let mut backoff = WatchBackoff::default();
        let delays: Vec<Duration> = backoff.by_ref().take(8).collect();
        let bounds = [250, 500, 1000, 2000, 4000, 5000, 5000, 5000];
        for (delay, bound) in delays.iter().zip(bounds) {
            let bound = Duration::from_millis(bound);
            assert!(
                *delay <= bound && *delay >= bound.mul_f64(0.8),
                "{delays:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next().is_some_and(|d| d <= FIRST));
    }
}
