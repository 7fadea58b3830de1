//! Colours of the text output, decided once from `--color`, `NO_COLOR` and `CLICOLOR_FORCE` (anstream's reading
//! of them) for stdout, the progress bars and the log lines; the styles of the words that carry a state; the
//! columns of a table.

use crate::journal::BatchState;
use anstyle::{AnsiColor, Style};
use std::ffi::OsString;

/// Sets the choice for every stream of the process: stdout written through [`stdout`] (styles stripped when off),
/// indicatif's bars (console) and, read by `logging`, the log lines.
pub fn init(choice: clap::ColorChoice) {
    let choice = match choice {
        clap::ColorChoice::Auto => anstream::ColorChoice::Auto,
        clap::ColorChoice::Always => anstream::ColorChoice::Always,
        clap::ColorChoice::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
    let on = |c| c != anstream::ColorChoice::Never;
    console::set_colors_enabled(on(anstream::AutoStream::choice(&std::io::stdout())));
    console::set_colors_enabled_stderr(on(anstream::AutoStream::choice(&std::io::stderr())));
}

/// `--color` read from the raw arguments: clap prints help and usage errors while parsing, before the parsed flag
/// reaches [`init`], and those should follow it too. The last occurrence wins, as clap's own parsing would have it.
pub fn choice_in(args: &[OsString]) -> Option<clap::ColorChoice> {
    use clap::ValueEnum;
    let mut found = None;
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let value = match word.strip_prefix("--color") {
            Some("") => words.next().map(|w| w.into_owned()),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        };
        if let Some(value) = value {
            found = clap::ColorChoice::from_str(&value, false).ok().or(found);
        }
    }
    found
}

/// Stdout with styles kept or stripped as [`init`] decided.
pub fn stdout() -> anstream::AutoStream<std::io::StdoutLock<'static>> {
    anstream::AutoStream::auto(std::io::stdout().lock())
}

/// The colour of a batch state: done green, interrupted yellow (it waits for `resume`), running cyan.
pub fn state(state: BatchState) -> Style {
    let colour = match state {
        BatchState::Done => AnsiColor::Green,
        BatchState::Interrupted => AnsiColor::Yellow,
        BatchState::Running => AnsiColor::Cyan,
    };
    Style::new().fg_color(Some(colour.into()))
}

/// A count that needs attention when it is not zero (failed, invalid): red then.
pub fn alarm(count: u64) -> Style {
    if count == 0 {
        Style::new()
    } else {
        Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
    }
}

/// `text` in `style` (the codes are stripped on the way out when colours are off).
pub fn paint(text: &str, style: Style) -> String {
    format!("{style}{text}{style:#}")
}

/// The width of each column of a table: its widest cell, the header's included.
pub fn widths(header: &[&str], rows: &[impl AsRef<[String]>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row.as_ref()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

/// One line of a table: each cell padded to its column's width, those from column `right` on aligned right, two
/// spaces between columns. `style` gives each column's style, applied inside the padding so that colour codes do
/// not shift the columns.
pub fn table_line(
    cells: &[impl AsRef<str>],
    widths: &[usize],
    right: usize,
    style: impl Fn(usize) -> Style,
) -> String {
    let mut text = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        let pad = " ".repeat(w.saturating_sub(cell.as_ref().chars().count()));
        let cell = paint(cell.as_ref(), style(i));
        let (left, right) = if i >= right {
            (&pad, &cell)
        } else {
            (&cell, &pad)
        };
        text.push_str(left);
        text.push_str(right);
        text.push_str("  ");
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_color_flag_is_found_before_clap_parses() {
        assert_eq!(
            choice_in(&args(&["tpbulk", "--color", "never", "status"])),
            Some(clap::ColorChoice::Never)
        );
        assert_eq!(
            choice_in(&args(&[
                "tpbulk",
                "--color=always",
                "status",
                "--color=never"
            ])),
            Some(clap::ColorChoice::Never)
        );
        assert_eq!(
            choice_in(&args(&["tpbulk", "status", "--", "--color=always"])),
            None
        );
        assert_eq!(choice_in(&args(&["tpbulk", "--colorful"])), None);
    }

    #[test]
    fn paint_wraps_in_codes_and_an_empty_style_adds_none() {
        assert_eq!(
            paint("done", state(BatchState::Done)),
            "\u{1b}[32mdone\u{1b}[0m"
        );
        assert_eq!(paint("0", alarm(0)), "0");
    }
}
