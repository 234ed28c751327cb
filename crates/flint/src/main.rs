//! The `flint` binary: `flint serve` runs the platform; the other
//! subcommands are a small client for people who do not use the AWS CLI.

mod cli;
mod config;
mod keys;
mod runtime_sdk;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "flint",
    version,
    about = "A self-hosted, AWS Lambda compatible serverless platform"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the flint server (Lambda API on --listen).
    Serve(config::ServeArgs),
    /// Manage functions on a running flint server.
    #[command(subcommand)]
    Function(cli::FunctionCommand),
    /// Show a function's logs (START/END/REPORT lines and its output).
    Logs(cli::LogsArgs),
    /// Asynchronous invocations: queue depth, oldest event, undelivered records.
    #[command(subcommand)]
    Events(cli::EventsCommand),
    /// Show current concurrency and throttles per function and for the account.
    Concurrency(cli::ConcurrencyArgs),
    /// Manage the access keys `flint serve --auth sigv4` accepts (works on
    /// the data directory, also while the server runs).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The AWS SDKs of the managed runtimes (boto3, the AWS SDK for
    /// JavaScript v3): install the pinned versions, or show what is installed.
    #[command(subcommand)]
    RuntimeSdk(runtime_sdk::RuntimeSdkCommand),
}

fn main() {
    // The sandbox spawn helper: a small single-threaded process that clones
    // execution environments for the server (see flint-sandbox). It must be
    // dispatched before anything starts a thread.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == serve::SANDBOX_HELPER_ARG)
    {
        flint_sandbox::helper_main();
    }
    if let Err(e) = run(Args::parse()) {
        // One readable line (with its causes), not a debug dump.
        eprintln!("flint: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Serve(serve_args) => {
            let settings = config::Settings::resolve(serve_args)?;
            serve::run(settings)
        }
        Command::Function(cmd) => cli::run(cmd),
        Command::Logs(args) => cli::logs(args),
        Command::Events(cmd) => cli::events(cmd),
        Command::Concurrency(args) => cli::concurrency(args),
        Command::Keys(cmd) => keys::run(cmd),
        Command::RuntimeSdk(cmd) => runtime_sdk::run(cmd),
    }
}
