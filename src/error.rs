//! Exit codes and the failures that decide them: unusable input (2), an unreachable or refusing platform (3), and
//! an interruption (130).

/// The process exit codes of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Exit {
    /// Every row created, already there, or valid.
    Success = 0,
    /// Some rows invalid or failed.
    Rows = 1,
    /// Unusable input or options.
    Usage = 2,
    /// The platform could not be reached or refused the credentials.
    Platform = 3,
    /// Interrupted; the batch is resumable.
    Interrupted = 130,
}

/// The file or the options cannot be used at all (exit 2). The message names the file, sheet, row or option.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The platform could not be reached or refused the credentials (exit 3). Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlatformUnavailable(pub String);

/// Ctrl-C or SIGTERM ended the command (exit 130). The message says what was done and what to do now.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Maps an error that ended a command to its exit code: interrupted 130, platform failures 3, everything else 2.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    if err
        .chain()
        .any(|e| e.downcast_ref::<Interrupted>().is_some())
    {
        Exit::Interrupted
    } else if err
        .chain()
        .any(|e| e.downcast_ref::<PlatformUnavailable>().is_some())
    {
        Exit::Platform
    } else {
        Exit::Usage
    }
}

/// True when the error is a closed stdout (`tpbulk validate … | head`), which is not a failure; also when serde_json
/// met it writing a `--format json` document (`tpbulk batches --format json | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().map(|io| io.kind()) == broken
            || e.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                == broken
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_failures_exit_3_even_when_wrapped() {
        let err = anyhow::Error::new(PlatformUnavailable("refused".into())).context("plan");
        assert_eq!(exit_for(&err), Exit::Platform);
        assert_eq!(exit_for(&anyhow::anyhow!("bad sheet")), Exit::Usage);
        let err = anyhow::Error::new(Interrupted("interrupted: nothing written".into()));
        assert_eq!(exit_for(&err.context("verify")), Exit::Interrupted);
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
        let json = serde_json::to_writer(Closed, &[1, 2, 3]).unwrap_err();
        assert!(is_broken_pipe(&anyhow::Error::new(json)));
    }

    /// A pipe whose reader is gone.
    struct Closed;

    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
