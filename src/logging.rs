//! tracing set-up: `-v`/`-vv` levels, text or JSON lines, to stderr; while a progress bar is shown, each line is
//! written with the bar lifted (so lines and bar never tear each other).

use indicatif::ProgressBar;
use std::io::Write;
use std::sync::{Arc, RwLock};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Standard error as the log lines and a progress bar share it. [`init`] makes it, gives the log writer a clone and
/// returns it to be handed down (in a [`Display`]) to whatever draws a bar, which [`Screen::show`]s its bar there:
/// each log line is then written with that bar lifted, so neither tears the other.
#[derive(Debug, Clone, Default)]
pub struct Screen(Arc<RwLock<Option<ProgressBar>>>);

impl Screen {
    /// Lifts `bar` for each log line until the returned guard is dropped.
    pub fn show(&self, bar: &ProgressBar) -> Lifted {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        Lifted(self.clone())
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A bar shown on a [`Screen`]: dropped, log lines go straight to stderr again.
#[derive(Debug)]
pub struct Lifted(Screen);

impl Drop for Lifted {
    fn drop(&mut self) {
        *(self.0).0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// How a command shows its progress: on the screen it is given, or not at all with `--quiet`.
#[derive(Debug, Clone, Default)]
pub struct Display {
    pub quiet: bool,
    pub screen: Screen,
}

impl Display {
    /// No progress at all, as with `--quiet`.
    pub fn hidden() -> Display {
        Display {
            quiet: true,
            screen: Screen::default(),
        }
    }
}

/// Installs the global subscriber: `verbose` 0 warnings, 1 info, 2 debug, 3 trace; JSON lines with `json`.
/// `TPBULK_LOG` (an EnvFilter directive) overrides the level.
/// Returns the [`Screen`] the log lines are written to.
pub fn init(verbose: u8, json: bool) -> anyhow::Result<Screen> {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let screen = Screen::default();
    let filter = EnvFilter::try_from_env("TPBULK_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("tpbulk={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(screen.clone())
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
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))?;
    Ok(screen)
}

/// Makes a [`LogWriter`] on stderr for each event.
impl<'a> MakeWriter<'a> for Screen {
    type Writer = LogWriter<std::io::Stderr>;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(std::io::stderr(), self.clone())
    }
}

/// Writes through to `W`, with the bar shown on the screen (if any) lifted for the write. The formatter hands over
/// each event in one write, so a line is never split around a redraw.
#[derive(Debug)]
pub struct LogWriter<W>(pub W, pub Screen);

impl<W: Write> Write for LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.1.bar() {
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
    use std::sync::Mutex;

    /// A terminal that records what is done to it.
    #[derive(Debug, Clone, Default)]
    struct Terminal(Arc<Mutex<Vec<String>>>);

    impl Terminal {
        fn log(&self, what: String) -> std::io::Result<()> {
            self.0.lock().unwrap().push(what);
            Ok(())
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    impl TermLike for Terminal {
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
        let screen = Terminal::default();
        let bar = ProgressBar::with_draw_target(
            Some(10),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_position(3);
        bar.tick();
        let logs = Screen::default();
        let shown = logs.show(&bar);
        screen.take();
        let mut out = LogWriter(Vec::new(), logs);
        out.write_all(b"WARN something happened\n").unwrap();
        let lifted = screen.take();
        drop(shown);
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
        let screen = Terminal::default();
        let logs = Screen::default();
        let bar = crate::after::StepBar::shown(
            10,
            "deleted",
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
            &logs,
        );
        bar.set_position(3);
        bar.tick();
        screen.take();
        let mut out = LogWriter(Vec::new(), logs.clone());
        out.write_all(b"WARN slow down\n").unwrap();
        let lifted = screen.take();
        assert!(lifted.iter().any(|op| op == "clear"), "{lifted:?}");
        assert!(lifted.iter().any(|op| op.starts_with("str ")), "{lifted:?}");

        drop(bar);
        screen.take();
        out.write_all(b"done\n").unwrap();
        assert!(
            logs.bar().is_none(),
            "the dropped bar is still the log writer's"
        );
        assert!(screen.take().is_empty());
        assert_eq!(out.0, b"WARN slow down\ndone\n");
    }
}
