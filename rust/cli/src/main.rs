// SPDX-License-Identifier: GPL-2.0

//! `coretakeover`: the command-line face of the coretakeover module.
//!
//! One module per subcommand (in the crate's library, `lib.rs`); each parses its own arguments (unit-tested in
//! its file) and returns this crate's one error type.

use clap::{Parser, Subcommand};
use coretakeover_cli::{agent, apply, dumpkey, error, key, label, savecore, status, takeover, watch};
use error::Error;

/// Control and inspect coretakeover, the storage pair's panic-time takeover.
#[derive(Debug, Parser)]
#[command(name = "coretakeover", version = coretakeover_core::VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Status(status::Args),
    Key(key::Args),
    Label(label::Args),
    Savecore(savecore::Args),
    /// Keys for encrypted dumps: the administrator's pair, a data key per arming.
    DumpKey(dumpkey::Args),
    Takeover(takeover::Args),
    Giveback(takeover::Args),
    Watch(watch::Args),
    /// Configure the module from /etc/coretakeover.conf.
    Apply(apply::Args),
    /// At boot: save an unsaved dump of this node, then apply.
    Boot(apply::Args),
    /// Disarm on purpose: the partner sees "stopped" and never takes over.
    Stop(apply::StopArgs),
    /// Identify a coredump disk by its label (udev).
    Probe(apply::ProbeArgs),
    Agent(agent::Args),
}

impl Command {
    /// Whether the command was asked for JSON (errors are then JSON too).
    fn json(&self) -> bool {
        match self {
            Command::Status(a) => a.json,
            Command::Key(a) => a.json,
            Command::Label(a) => a.json,
            Command::Savecore(a) => a.json,
            Command::DumpKey(a) => a.json,
            Command::Takeover(a) | Command::Giveback(a) => a.json,
            Command::Watch(a) => a.json,
            Command::Apply(a) | Command::Boot(a) => a.json,
            Command::Stop(a) => a.json,
            Command::Probe(_) | Command::Agent(_) => false,
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Status(args) => status::run(&args, &mut out),
        Command::Key(args) => key::run(&args, &mut out),
        Command::Label(args) => label::run(&args, &mut out),
        Command::Savecore(args) => savecore::run(&args, &mut out),
        Command::DumpKey(args) => dumpkey::run(&args, &mut out),
        Command::Takeover(args) => takeover::run_takeover(&args, &mut out),
        Command::Giveback(args) => takeover::run_giveback(&args, &mut out),
        Command::Watch(args) => watch::run(&args, &mut out),
        Command::Apply(args) => apply::run(&args, &mut out),
        Command::Boot(args) => apply::run_boot(&args, &mut out),
        Command::Stop(args) => apply::run_stop(&args, &mut out),
        Command::Probe(args) => apply::run_probe(&args, &mut out),
        Command::Agent(args) => agent::run(&args),
    }
}

/// Exit status: 0 success, 1 error, 2 usage, 3 partial takeover, 4
/// refused (see `Error::exit_code`). With `--json`, an error is one JSON
/// object on standard output (`{"error": {...}}`) as well as a line on
/// standard error.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let json = cli.command.json();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coretakeover: {e}");
            if json {
                println!("{}", e.to_json());
            }
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
