//! Progress of a run, in one small type: an indicatif bar on a terminal, a plain line every few seconds when stderr
//! is not a terminal, nothing with `--quiet`.

use super::Counters;
use crate::journal::Action;
use crate::logging::{Display, Screen};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the plain line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts showing the progress of `total` rows on `display`. Must be called inside a tokio runtime.
    pub fn start(
        total: u64,
        counters: Arc<Counters>,
        action: Action,
        display: &Display,
    ) -> Progress {
        let stop = CancellationToken::new();
        if display.quiet || total == 0 {
            return Progress { stop, task: None };
        }
        let task = if std::io::stderr().is_terminal() {
            tokio::spawn(bar(
                total,
                counters,
                action,
                display.screen.clone(),
                stop.clone(),
            ))
        } else {
            tokio::spawn(lines(total, counters, action, stop.clone()))
        };
        Progress {
            stop,
            task: Some(task),
        }
    }

    /// Stops the display (the bar is cleared; the summary says the rest).
    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A bar style from an indicatif template that may use `{rate}`: the items per second with one decimal
/// (indicatif's own `{per_sec}` prints four).
pub fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&rate(state.per_sec()));
            },
        )
}

/// `250.2/s`.
fn rate(per_sec: f64) -> String {
    format!("{per_sec:.1}/s")
}

async fn bar(
    total: u64,
    counters: Arc<Counters>,
    action: Action,
    screen: Screen,
    stop: CancellationToken,
) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(bar_style(
        "{bar:30.cyan/blue} {pos}/{len} {msg} {rate:.green} ETA {eta}",
    ));
    // Log lines are written with the bar lifted from now on, so neither tears the other.
    let lifted = screen.show(&bar);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        // One reading of the counters for both, so the position is always the sum the message shows.
        let (done, shown) = snapshot(&counters, action);
        bar.set_position(done);
        bar.set_message(shown);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
    }
    drop(lifted);
    bar.finish_and_clear();
}

async fn lines(total: u64, counters: Arc<Counters>, action: Action, stop: CancellationToken) {
    let started = Instant::now();
    // The first tick is at once: the batch says it has started sending before its first five seconds are up.
    let mut tick = tokio::time::interval(LINE_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                let (done, shown) = snapshot(&counters, action);
                let per_sec = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                let (what, rate) = match action {
                    Action::Create | Action::Update | Action::Delete | Action::Restore => {
                        ("rows", "devices/s")
                    }
                    Action::Tag => ("tag calls", "calls/s"),
                };
                eprintln!("tpbulk: {done}/{total} {what}, {shown}, {per_sec:.1} {rate}");
            }
        }
    }
}

/// The rows done and the message that counts them, from one reading of each counter: read apart, a row finishing
/// in between made the position disagree with the counts beside it.
fn snapshot(counters: &Counters, action: Action) -> (u64, String) {
    let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let (done, deleted, exists, gone, failed) = (
        n(&counters.done),
        n(&counters.deleted),
        n(&counters.exists),
        n(&counters.gone),
        n(&counters.failed),
    );
    let (updated, unchanged, conflict) = (
        n(&counters.updated),
        n(&counters.unchanged),
        n(&counters.conflict),
    );
    // Counts of updates only when there are some: a plain import or rollback reads as it always did.
    let some = |label: &str, count: u64| match count {
        0 => String::new(),
        _ => format!(" {label} {count}"),
    };
    let extra = some("unchanged", unchanged) + &some("conflict", conflict);
    let shown = match action {
        Action::Create | Action::Update => {
            // An import's `DELETE` rows are shown once one has settled.
            let deletions = if deleted + gone > 0 {
                format!(" deleted {deleted} gone {gone}")
            } else {
                String::new()
            };
            let updated = some("updated", updated);
            format!("created {done}{updated}{extra} exists {exists}{deletions} failed {failed}")
        }
        Action::Delete | Action::Restore => {
            let restored = some("restored", updated);
            format!("deleted {deleted}{restored}{extra} gone {gone} failed {failed}")
        }
        Action::Tag => format!("tagged {done} failed {failed}"),
    };
    (
        done + deleted + updated + unchanged + conflict + exists + gone + failed,
        shown,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_is_the_sum_of_the_counts_shown() {
        let counters = Counters::default();
        counters.done.store(7, Ordering::Relaxed);
        counters.exists.store(2, Ordering::Relaxed);
        counters.failed.store(1, Ordering::Relaxed);
        assert_eq!(
            snapshot(&counters, Action::Create),
            (10, "created 7 exists 2 failed 1".to_string())
        );
        counters.done.store(0, Ordering::Relaxed);
        counters.exists.store(0, Ordering::Relaxed);
        counters.deleted.store(7, Ordering::Relaxed);
        counters.gone.store(3, Ordering::Relaxed);
        assert_eq!(
            snapshot(&counters, Action::Delete),
            (11, "deleted 7 gone 3 failed 1".to_string())
        );
        counters.done.store(2, Ordering::Relaxed);
        assert_eq!(
            snapshot(&counters, Action::Create),
            (
                13,
                "created 2 exists 0 deleted 7 gone 3 failed 1".to_string()
            )
        );
        counters.deleted.store(0, Ordering::Relaxed);
        counters.gone.store(0, Ordering::Relaxed);
        counters.done.store(7, Ordering::Relaxed);
        counters.exists.store(2, Ordering::Relaxed);
        counters.updated.store(4, Ordering::Relaxed);
        counters.conflict.store(1, Ordering::Relaxed);
        assert_eq!(
            snapshot(&counters, Action::Create),
            (
                15,
                "created 7 updated 4 conflict 1 exists 2 failed 1".to_string()
            )
        );
    }

    #[test]
    fn rates_have_one_decimal() {
        assert_eq!(rate(250.23456), "250.2/s");
        assert_eq!(rate(3.0), "3.0/s");
    }
}
