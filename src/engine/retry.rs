//! What a failed creation attempt means for its row: final, worth another attempt, and whether the platform may
//! have created the device anyway. How long to wait before the next attempt is the platform's one [`Backoff`].

use crate::platform::ApiError;
pub use crate::platform::Backoff;

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
