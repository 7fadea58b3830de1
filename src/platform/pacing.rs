//! One rate limiter and one pool-wide pause for every REST request of a run, so that a 429 or 503 slows the whole
//! pool down instead of each worker discovering the limit on its own.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
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
}
