//! After the batch: which journalled devices a command looks at ([`targets`]) and the four commands built on them —
//! [`verify`] (are they all on the platform), [`health`] (traffic and alarms), [`rollback`] (delete what a batch
//! created, resumably) and [`connection`] (list and add connections).
//!
//! Everything here reads the journal through its public API; a rollback is journalled there as a batch of deletions
//! and run by the engine (see [`rollback`]). Platform calls go through [`crate::platform::Client`] and so through its
//! shared pacing.

pub mod connection;
pub mod health;
pub mod rollback;
pub mod verify;

use crate::device::Kind;
use crate::journal::{Journal, RowRecord, RowState, UndoneCursor};
use crate::logging::{Display, Lifted, Screen};

/// A device of a batch that the platform should have: a row that ended `done` (created) or `exists`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub row: u64,
    pub kind: Option<Kind>,
    /// The row's identifier as the file gave it (DevEUI, IMEI or SIM).
    pub id: Option<String>,
    pub name: Option<String>,
    pub state: RowState,
    /// The EUI the platform knows the device by: journalled at creation (cellular devices get theirs from the
    /// platform), else the DevEUI of a LoRaWAN row.
    pub eui: Option<String>,
    /// The platform's device uid (the last segment of its `href`), when journalled.
    pub uid: Option<String>,
}

impl Target {
    pub fn from_record(record: &RowRecord) -> Target {
        let lorawan_id = record
            .kind
            .filter(|k| k.is_lorawan())
            .and(record.id.clone());
        Target {
            row: record.row,
            kind: record.kind,
            id: record.id.clone(),
            name: record.name.clone(),
            state: record.state,
            eui: record
                .device_eui
                .clone()
                .or(lorawan_id)
                .map(|e| e.to_ascii_uppercase()),
            uid: record.device_uid.clone(),
        }
    }

    /// How a person finds the row: its identifier, else the platform EUI, else its row number.
    pub fn label(&self) -> String {
        self.id
            .clone()
            .or_else(|| self.eui.clone())
            .unwrap_or_else(|| format!("row {}", self.row))
    }
}

/// The devices of `batch` the platform should have: `created` and `exists` rows, less those a rollback deleted (a
/// batch's own deletions are no device to have). Also returns how many were left out by the rollback.
pub fn targets(journal: &Journal, batch: &str) -> anyhow::Result<(Vec<Target>, usize)> {
    let mut rolled_back = UndoneCursor::new(batch);
    let (mut kept, mut left_out) = (Vec::new(), 0);
    journal.for_each_row(batch, Some(&[RowState::Done, RowState::Exists]), |r| {
        if r.action == crate::journal::Action::Delete {
            return Ok(());
        }
        match rolled_back.of(journal, r.row)? {
            Some(_) => left_out += 1,
            None => kept.push(Target::from_record(&r)),
        }
        Ok(())
    })?;
    Ok((kept, left_out))
}

/// A bar of `total` steps on a terminal's stderr; off a terminal, a plain line at the start and every few seconds
/// (so a command run from a script is never silent); nothing with `--quiet` or for nothing to do.
pub fn progress_bar(total: usize, what: &str, display: &Display) -> StepBar {
    use std::io::IsTerminal;
    if display.quiet || total == 0 {
        return StepBar::hidden();
    }
    if !std::io::stderr().is_terminal() {
        return StepBar::lines(total, what, LINE_EVERY);
    }
    StepBar::shown(
        total,
        what,
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
        &display.screen,
    )
}

/// How often a [`StepBar`] off a terminal prints its line.
const LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The bar of a `health`: while shown, log lines are written with it lifted (see `logging::Screen`), so neither
/// tears the other; dropping it clears it and gives log lines the terminal back. Off a terminal it prints plain
/// lines instead.
pub struct StepBar {
    bar: indicatif::ProgressBar,
    /// On a terminal: the bar as the log lines lift it.
    shown: Option<Lifted>,
    /// The thread printing plain lines, and the sender whose drop stops it.
    lines: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl StepBar {
    fn hidden() -> StepBar {
        StepBar {
            bar: indicatif::ProgressBar::hidden(),
            shown: None,
            lines: None,
        }
    }

    /// Counts like a bar and says `N of TOTAL WHAT checked` on stderr now, every `every`, and when dropped.
    fn lines(total: usize, what: &str, every: std::time::Duration) -> StepBar {
        use std::sync::mpsc::RecvTimeoutError;
        let bar = indicatif::ProgressBar::hidden();
        bar.set_length(total as u64);
        let say = {
            let (bar, what) = (bar.clone(), what.to_string());
            move || {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "tpbulk: {} of {total} {what} checked",
                    bar.position()
                );
            }
        };
        say();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            // Nothing is ever sent: the sender's drop (the bar's) ends the wait.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                say();
            }
            say();
        });
        StepBar {
            bar,
            shown: None,
            lines: Some((stop, handle)),
        }
    }

    pub(crate) fn shown(
        total: usize,
        what: &str,
        target: indicatif::ProgressDrawTarget,
        screen: &Screen,
    ) -> StepBar {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total as u64), target);
        let template =
            format!("{{bar:30.cyan/blue}} {{pos}}/{{len}} {what} {{rate:.green}} ETA {{eta}}");
        bar.set_style(crate::engine::progress::bar_style(&template));
        StepBar {
            shown: Some(screen.show(&bar)),
            bar,
            lines: None,
        }
    }
}

impl std::ops::Deref for StepBar {
    type Target = indicatif::ProgressBar;
    fn deref(&self) -> &indicatif::ProgressBar {
        &self.bar
    }
}

impl Drop for StepBar {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.lines.take() {
            drop(stop);
            let _ = handle.join();
        }
        if self.shown.take().is_some() {
            self.bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, id: &str, device_eui: Option<&str>) -> RowRecord {
        RowRecord {
            row: 2,
            kind: Some(kind),
            id: Some(id.into()),
            name: None,
            action: crate::journal::Action::Create,
            previous: None,
            state: RowState::Done,
            request: None,
            errors: Vec::new(),
            http_status: None,
            error_code: None,
            message: None,
            device_href: None,
            device_uid: Some("7".into()),
            device_eui: device_eui.map(str::to_string),
            keys: Default::default(),
            attempts: 1,
            finished_at: None,
        }
    }

    #[test]
    fn cellular_targets_use_the_eui_the_platform_assigned() {
        let t = Target::from_record(&record(
            Kind::Cellular,
            "123456789012347",
            Some("f03d290000000001"),
        ));
        assert_eq!(t.eui.as_deref(), Some("F03D290000000001"));
        let t = Target::from_record(&record(Kind::Cellular, "123456789012347", None));
        assert_eq!(t.eui, None);
        assert_eq!(t.label(), "123456789012347");
        let t = Target::from_record(&record(Kind::Otaa, "70b3d5e756000999", None));
        assert_eq!(t.eui.as_deref(), Some("70B3D5E756000999"));
    }
}
