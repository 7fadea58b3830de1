//! Lines for standard output from commands that change the platform (`import`, `resume`, `rollback`): a reader that
//! stops early (`| head -1`) must not cut the work short, so a closed pipe drops the line and the command goes on to
//! its own exit code. Read-only commands may simply stop there (see `main_entry`).

use std::io::Write;

/// Writes one line to standard output; a closed pipe is not an error, any other failure is logged.
pub fn line(text: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    if let Err(err) = writeln!(out, "{text}").and_then(|()| out.flush())
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!(error = %err, "cannot write to standard output");
    }
}
