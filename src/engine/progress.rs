//! Progress of a run, in one small type: an indicatif bar on a terminal, a plain line every few seconds when stderr
//! is not a terminal, nothing with `--quiet`.

use super::Counters;
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
    /// Starts showing the progress of `total` rows. Must be called inside a tokio runtime.
    pub fn start(total: u64, counters: Arc<Counters>, quiet: bool) -> Progress {
        let stop = CancellationToken::new();
        if quiet || total == 0 {
            return Progress { stop, task: None };
        }
        let task = if std::io::stderr().is_terminal() {
            tokio::spawn(bar(total, counters, stop.clone()))
        } else {
            tokio::spawn(lines(total, counters, stop.clone()))
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

async fn bar(total: u64, counters: Arc<Counters>, stop: CancellationToken) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} {msg} {per_sec:.green} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Log lines are written with the bar lifted from now on, so neither tears the other.
    crate::logging::set_progress(&bar);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        bar.set_position(counters.done());
        bar.set_message(message(&counters));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
    }
    crate::logging::clear_progress();
    bar.finish_and_clear();
}

async fn lines(total: u64, counters: Arc<Counters>, stop: CancellationToken) {
    let started = Instant::now();
    // The first tick is at once: the batch says it has started sending before its first five seconds are up.
    let mut tick = tokio::time::interval(LINE_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                let done = counters.done();
                let per_sec = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                eprintln!("tpbulk: {done}/{total} rows, {}, {per_sec:.1} devices/s", message(&counters));
            }
        }
    }
}

fn message(counters: &Counters) -> String {
    format!(
        "created {} exists {} failed {}",
        counters.created.load(Ordering::Relaxed),
        counters.exists.load(Ordering::Relaxed),
        counters.failed.load(Ordering::Relaxed)
    )
}
