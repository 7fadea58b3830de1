//! tracing set-up: `-v`/`-vv` levels, text or JSON lines, to stderr; while a progress bar is shown, each line is
//! written with the bar lifted (so lines and bar never tear each other).

use indicatif::ProgressBar;
use std::io::Write;
use std::sync::RwLock;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The bar on screen, if any; set by whoever draws one (the import engine's progress).
static PROGRESS: RwLock<Option<ProgressBar>> = RwLock::new(None);

/// Tests that set the bar take this first: `cargo test` runs them on threads of one process, and the bar is global.
#[cfg(test)]
pub(crate) static TEST_BAR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Routes log lines around `bar` until [`clear_progress`] (or the next call); pass the bar that is drawn.
pub fn set_progress(bar: &ProgressBar) {
    *PROGRESS.write().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
}

/// Log lines go straight to stderr again.
pub fn clear_progress() {
    *PROGRESS.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Installs the global subscriber: `verbose` 0 warnings, 1 info, 2 debug, 3 trace; JSON lines with `json`.
/// `TPBULK_LOG` (an EnvFilter directive) overrides the level.
pub fn init(verbose: u8, json: bool) -> anyhow::Result<()> {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("TPBULK_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("tpbulk={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        // Colour codes only for a person reading a terminal, not in a redirected log file, and as --color,
        // NO_COLOR or CLICOLOR_FORCE say (decided by `cmd::style::init` before this runs).
        .with_ansi(
            anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never,
        );
    let result = if json {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// Makes a [`LogWriter`] on stderr for each event.
#[derive(Debug, Clone, Copy)]
pub struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = LogWriter<std::io::Stderr>;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(std::io::stderr())
    }
}

/// Writes through to `W`, with the progress bar (when one is set) lifted for the write. The formatter hands over
/// each event in one write, so a line is never split around a redraw.
#[derive(Debug)]
pub struct LogWriter<W>(pub W);

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = PROGRESS.read().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| self.0.write_all(buf))?,
            None => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::{ProgressDrawTarget, TermLike};
    use std::sync::{Arc, Mutex};

    /// A terminal that records what is done to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl Screen {
        fn log(&self, what: String) -> std::io::Result<()> {
            self.0.lock().unwrap().push(what);
            Ok(())
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.log(format!("up {n}"))
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.log(format!("down {n}"))
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.log(format!("right {n}"))
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.log(format!("left {n}"))
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.log(format!("line {s}"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.log(format!("str {s}"))
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.log("clear".into())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_line_lifts_the_bar_while_one_is_shown_and_not_after() {
        let _serial = TEST_BAR.lock().unwrap_or_else(|e| e.into_inner());
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(10),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_position(3);
        bar.tick();
        set_progress(&bar);
        screen.take();
        let mut out = LogWriter(Vec::new());
        out.write_all(b"WARN something happened\n").unwrap();
        let lifted = screen.take();
        clear_progress();
        // Suspending clears the bar before the line and draws it again after.
        assert!(lifted.iter().any(|op| op == "clear"), "{lifted:?}");
        assert!(lifted.iter().any(|op| op.starts_with("str ")), "{lifted:?}");
        assert_eq!(out.0, b"WARN something happened\n");

        out.write_all(b"second\n").unwrap();
        assert!(screen.take().is_empty());
        assert_eq!(out.0, b"WARN something happened\nsecond\n");
        bar.finish_and_clear();
    }

    #[test]
    fn the_bar_of_health_or_rollback_is_lifted_by_log_lines_until_dropped() {
        let _serial = TEST_BAR.lock().unwrap_or_else(|e| e.into_inner());
        let screen = Screen::default();
        let bar = crate::after::StepBar::shown(
            10,
            "deleted",
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_position(3);
        bar.tick();
        screen.take();
        let mut out = LogWriter(Vec::new());
        out.write_all(b"WARN slow down\n").unwrap();
        let lifted = screen.take();
        assert!(lifted.iter().any(|op| op == "clear"), "{lifted:?}");
        assert!(lifted.iter().any(|op| op.starts_with("str ")), "{lifted:?}");

        drop(bar);
        screen.take();
        out.write_all(b"done\n").unwrap();
        assert!(
            PROGRESS.read().unwrap().is_none(),
            "the dropped bar is still the log writer's"
        );
        assert!(screen.take().is_empty());
        assert_eq!(out.0, b"WARN slow down\ndone\n");
    }
}
