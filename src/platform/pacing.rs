//! One rate limiter and one pool-wide pause for every REST request of a run, so that a 429 or 503 slows the whole
//! pool down instead of each worker discovering the limit on its own.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The longest pause an exponential step reaches.
const MAX_STEP: Duration = Duration::from_secs(30);

/// The one rate limiter and the pool-wide pause shared by every REST request of a run. On 429 or 503 the pause is
/// set (from `Retry-After`, rounded up, or an exponential step) and every request waits for it.
#[derive(Debug)]
pub struct Pacing {
    limiter: Option<DefaultDirectRateLimiter>,
    pause: Mutex<Pause>,
}

#[derive(Debug, Default)]
struct Pause {
    until: Option<Instant>,
    /// Consecutive slow-downs without `Retry-After` since the last success.
    steps: u32,
}

impl Pacing {
    /// `rate` requests per second over all requests; `None`: unlimited.
    pub fn new(rate: Option<f64>) -> Arc<Pacing> {
        let limiter = rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .and_then(|r| Quota::with_period(Duration::from_secs_f64(1.0 / r)))
            // A burst of two keeps requests nearly evenly spaced (what a leaky bucket on the other side wants)
            // while a permit that a late timer wake-up missed is not lost: with a burst of one, `--rate 100`
            // measured 92/s; with two, 100.1/s.
            .map(|q| {
                RateLimiter::direct(q.allow_burst(NonZeroU32::new(2).expect("two is not zero")))
            });
        Arc::new(Pacing {
            limiter,
            pause: Mutex::new(Pause::default()),
        })
    }

    /// Waits for the pool-wide pause, then for a permit of the rate limiter.
    pub async fn wait(&self) {
        loop {
            let until = self.pause.lock().expect("pacing lock").until;
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    /// The platform said "too many requests" (429) or "unavailable" (503): pause every request, for `retry_after`
    /// when it said how long, else 1 s, 2 s, 4 s … up to 30 s. Returns the pause set.
    pub fn slow_down(&self, retry_after: Option<Duration>) -> Duration {
        let mut pause = self.pause.lock().expect("pacing lock");
        let now = Instant::now();
        let length = match retry_after {
            Some(d) => d,
            // Answers to requests that left before the current pause began say nothing new: one burst of 429s
            // is one step, not eight.
            None if pause.until.is_some_and(|u| u > now) => {
                return pause.until.expect("checked") - now;
            }
            None => {
                let step = Duration::from_secs(1u64 << pause.steps.min(5)).min(MAX_STEP);
                pause.steps = pause.steps.saturating_add(1);
                step
            }
        };
        let until = now + length;
        // Concurrent slow-downs must not shorten a pause another answer already set.
        if pause.until.is_none_or(|u| u < until) {
            pause.until = Some(until);
        }
        length
    }

    /// A request succeeded: the next slow-down starts again from the first step.
    pub fn succeeded(&self) {
        self.pause.lock().expect("pacing lock").steps = 0;
    }

    /// How long requests are still paused for.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = self.pause.lock().expect("pacing lock").until?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }
}

/// Reads `Retry-After` (seconds, possibly fractional, or an HTTP date), rounded up to whole seconds.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs(secs.ceil() as u64));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let ms = (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(Duration::from_secs((ms.max(0) as u64).div_ceil(1000)))
}

/// Capped exponential backoff with "equal jitter": the n-th wait is uniformly drawn from `[d/2, d]` where
/// `d = min(cap, base * 2^n)`, so concurrent workers spread out but never retry immediately.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// A batch's rows.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The client's reads and deletions outside a batch: fewer, slower steps than a batch's rows.
    pub const READS: Backoff = Backoff {
        base: Duration::from_millis(250),
        cap: Duration::from_secs(8),
    };

    /// The wait before retry number `failures` (1 for the first retry).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let half = full / 2;
        let jitter_ms = half.as_millis() as u64;
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    /// The wait after a throttled answer: short, because the shared pacing already holds every request back; the
    /// jitter keeps the workers from stampeding when the pause ends.
    pub fn throttle_delay(&self) -> Duration {
        Duration::from_millis(rand::rng().random_range(0..=50))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_rounded_up() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("1.2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        let in_a_minute = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc2822();
        let d = parse_retry_after(&in_a_minute).unwrap();
        assert!(
            d >= Duration::from_secs(59) && d <= Duration::from_secs(60),
            "{d:?}"
        );
    }

    #[test]
    fn steps_double_up_to_thirty_seconds_and_reset_after_a_success() {
        let pacing = Pacing::new(None);
        let steps: Vec<u64> = (0..7)
            .map(|_| {
                let step = pacing.slow_down(None).as_secs();
                // The next 429 comes from a request sent after this pause ended.
                pacing.pause.lock().unwrap().until = None;
                step
            })
            .collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 30, 30]);
        pacing.succeeded();
        assert_eq!(pacing.slow_down(None), Duration::from_secs(1));
        assert_eq!(
            pacing.slow_down(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn a_burst_of_429s_during_a_pause_is_one_step() {
        let pacing = Pacing::new(None);
        assert_eq!(pacing.slow_down(None), Duration::from_secs(1));
        for _ in 0..8 {
            assert!(pacing.slow_down(None) <= Duration::from_secs(1));
        }
        pacing.pause.lock().unwrap().until = None;
        assert_eq!(pacing.slow_down(None), Duration::from_secs(2));
    }

    #[test]
    fn a_shorter_pause_does_not_cut_a_longer_one() {
        let pacing = Pacing::new(Some(10.0));
        pacing.slow_down(Some(Duration::from_secs(20)));
        pacing.slow_down(Some(Duration::from_secs(1)));
        assert!(pacing.paused_for().unwrap() > Duration::from_secs(10));
    }

    #[test]
    fn backoff_grows_then_caps_and_stays_jittered_within_bounds() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d10 = b.delay(10);
            assert!(d10 >= Duration::from_millis(500) && d10 <= Duration::from_millis(1000));
            assert!(b.delay(u32::MAX) <= Duration::from_millis(1000));
        }
    }
}
