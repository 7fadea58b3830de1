//! What a failed creation attempt means for its row: final, worth another attempt, and whether the platform may
//! have created the device anyway; and how long to wait before the next attempt (capped exponential backoff with
//! jitter).

use crate::platform::ApiError;
use rand::Rng;
use std::time::Duration;

/// Attempts per row and run for errors (5xx, timeouts, dropped connections) before the row ends `failed`.
pub const MAX_ATTEMPTS: u32 = 8;
/// Throttled answers (429) per row and run before the row ends `failed`. Generous: the shared pacing slows the
/// whole pool down, so a throttled row is only waiting its turn.
pub const MAX_THROTTLED: u32 = 64;

/// How one failed attempt is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The platform's "already exists" answer.
    Duplicate,
    /// The credentials were refused: no row can succeed, the run stops.
    Fatal,
    /// A final answer for this row (other 4xx).
    Final,
    /// Try again. `maybe_sent`: the device may exist now, so reconcile before sending again. `throttled`: the
    /// platform asked the pool to slow down.
    Retry { maybe_sent: bool, throttled: bool },
}

/// Classifies a failed creation attempt.
pub fn classify(err: &ApiError) -> Verdict {
    if err.is_duplicate() {
        return Verdict::Duplicate;
    }
    match err {
        ApiError::Auth(_) => Verdict::Fatal,
        ApiError::Status { status: 401, .. } => Verdict::Fatal,
        ApiError::Status { status: 429, .. } => Verdict::Retry {
            maybe_sent: false,
            throttled: true,
        },
        // A 5xx came back after the request was read: whether the device was created is unknown. 503 is also a
        // throttle, but a gateway may answer it after forwarding, so it is reconciled like any 5xx.
        ApiError::Status { status, .. } if *status >= 500 => Verdict::Retry {
            maybe_sent: true,
            throttled: *status == 503,
        },
        ApiError::Transport { maybe_sent, .. } => Verdict::Retry {
            maybe_sent: *maybe_sent,
            throttled: false,
        },
        e if e.is_retryable() => Verdict::Retry {
            maybe_sent: true,
            throttled: false,
        },
        _ => Verdict::Final,
    }
}

/// Capped exponential backoff with "equal jitter": the n-th wait is uniformly drawn from `[d/2, d]` where
/// `d = min(cap, base * 2^n)`, so concurrent workers spread out but never retry immediately.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
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

    fn status(status: u16, code: Option<i64>) -> ApiError {
        ApiError::Status {
            status,
            code,
            message: "m".into(),
            retry_after: None,
        }
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

    #[test]
    fn client_errors_are_final_and_server_errors_unknown() {
        assert_eq!(classify(&status(400, Some(42))), Verdict::Final);
        assert_eq!(classify(&status(404, None)), Verdict::Final);
        assert_eq!(
            classify(&status(500, None)),
            Verdict::Retry {
                maybe_sent: true,
                throttled: false
            }
        );
        assert_eq!(
            classify(&status(429, None)),
            Verdict::Retry {
                maybe_sent: false,
                throttled: true
            }
        );
        assert_eq!(
            classify(&status(503, None)),
            Verdict::Retry {
                maybe_sent: true,
                throttled: true
            }
        );
        assert_eq!(classify(&ApiError::Auth("refused".into())), Verdict::Fatal);
    }

    #[test]
    fn transport_errors_keep_whether_the_request_left() {
        let lost = ApiError::Transport {
            message: "reset".into(),
            maybe_sent: true,
        };
        let refused = ApiError::Transport {
            message: "refused".into(),
            maybe_sent: false,
        };
        assert_eq!(
            classify(&lost),
            Verdict::Retry {
                maybe_sent: true,
                throttled: false
            }
        );
        assert_eq!(
            classify(&refused),
            Verdict::Retry {
                maybe_sent: false,
                throttled: false
            }
        );
    }
}
