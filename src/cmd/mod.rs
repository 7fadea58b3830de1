//! One module per subcommand, each with the same shape: `Args` (clap) and `run`.

use crate::cli::{Cli, Command};
use crate::error::Exit;
use crate::platform::{self, ApiError, Client, ClientConfig};

pub mod batches;
pub mod catalog;
pub mod completions;
pub mod connection;
pub mod delete;
pub mod demo;
pub mod export;
pub mod health;
pub mod import;
pub mod man;
pub mod plan;
pub mod profile;
pub mod report;
pub mod resume;
pub mod rework;
pub mod rollback;
pub mod runtime;
pub mod settings;
pub mod sim;
pub mod status;
pub mod style;
pub mod template;
pub mod validate;
pub mod verify;

/// Runs the parsed command line; progress is drawn on `screen`, the stderr of the log lines.
pub fn run(cli: Cli, screen: crate::logging::Screen) -> anyhow::Result<Exit> {
    let global = cli.global;
    // One runtime and one cancellation for the whole command, built on first use.
    let rt = runtime::Runtime::new(screen);
    match cli.command {
        Command::Validate(args) => validate::run(args, &global),
        Command::Template(args) => template::run(args, &global),
        Command::Sim(args) => sim::run(args, &global, &rt),
        Command::Catalog(args) => catalog::run(args, &global, &rt),
        Command::Plan(args) => plan::run(args, &global, &rt),
        Command::Import(args) => import::run(args, &global, &rt),
        Command::Resume(args) => resume::run(args, &global, &rt),
        Command::Status(args) => status::run(args, &global),
        Command::Batches(args) => batches::run(args, &global),
        Command::Report(args) => report::run(args, &global),
        Command::Rework(args) => rework::run(args, &global),
        Command::Demo(args) => demo::run(args, &global, &rt),
        Command::Verify(args) => verify::run(args, &global, &rt),
        Command::Export(args) => export::run(args, &global, &rt),
        Command::Health(args) => health::run(args, &global, &rt),
        Command::Rollback(args) => rollback::run(args, &global, &rt),
        Command::Delete(args) => delete::run(args, &global, &rt),
        Command::Connection(args) => connection::run(args, &global, &rt),
        Command::Profile(args) => profile::run(args, &global),
        Command::Completions(args) => completions::run(args, &global),
        Command::Man(args) => man::run(args, &global),
    }
}

/// Connects to the platform of `config` (paced at `rate`) and runs `work` on the client until it ends or the first
/// signal ([`runtime::Runtime::until_cancelled`], which says `done`); a failed call names the platform (exit 3).
pub fn with_client<T>(
    rt: &runtime::Runtime,
    done: &str,
    config: ClientConfig,
    rate: Option<f64>,
    work: impl AsyncFnOnce(Client) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let url = config.url.clone();
    rt.until_cancelled(done, async move {
        let client = platform::connect(config, rate).await?;
        work(client)
            .await
            .map_err(|e| match e.downcast::<ApiError>() {
                Ok(api) => platform::unavailable(&url, &api).into(),
                Err(other) => other,
            })
    })
}

/// A command's `Args` beside the global options, as a command line gives them: for the tests of each command.
#[cfg(test)]
#[derive(clap::Parser)]
pub struct Parsed<A: clap::Args> {
    #[command(flatten)]
    pub global: crate::cli::GlobalArgs,
    #[command(flatten)]
    pub args: A,
}

#[cfg(test)]
impl<A: clap::Args> Parsed<A> {
    /// `argv`: the words after the command's name.
    pub fn of(argv: &[&str]) -> Result<Parsed<A>, clap::Error> {
        clap::Parser::try_parse_from(std::iter::once("tpbulk").chain(argv.iter().copied()))
    }
}
