//! The `lifeline` command.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use server::{
    config::{Cli, Settings, Task},
    monitor,
    sealed::SecretKey,
    shutdown, site,
    startup::Application,
    telemetry,
};

fn main() -> ExitCode {
    let settings = match Cli::parse().into_task() {
        Task::Serve(settings) => *settings,
        Task::GenKey => {
            println!("{}", SecretKey::generate().to_base64());
            return ExitCode::SUCCESS;
        }
        // A short synchronous look: no runtime, no logging set-up.
        Task::Monitor(args) => return monitor::run(&args),
    };
    telemetry::init(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lifeline: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeline: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let stop = shutdown::listen().context("cannot listen for shutdown signals")?;
    let options = site::options().context("cannot read the site settings")?;
    let app = Application::build(&settings, options).await?;
    app.run(stop).await.context("server failed")
}

/// The error and its causes on one line. Lifeline's own messages already quote their cause,
/// so a cause whose text is already on the line is not repeated.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}
