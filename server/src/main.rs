//! The `lifeline` command.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use server::{
    config::{Cli, CopyDbArgs, DrainArgs, RekeyArgs, Settings, Task},
    connector::whatsapp::rekey,
    dashboard_files,
    db::{DatabaseUrl, Db, InstanceLock, copy, leases},
    monitor,
    secret_key::SecretKey,
    shutdown,
    startup::Application,
    telemetry,
};

fn main() -> ExitCode {
    let task = Cli::parse().into_task();
    let settings = match task {
        Task::Serve(settings) => *settings,
        Task::CopyDb(ref args) => {
            return run_async(copy_db(args), |copied| {
                println!("copied {copied}");
            });
        }
        Task::Rekey(ref args) => {
            return run_async(rekey(args), |count| {
                println!(
                    "re-sealed {count} WhatsApp key records with key {}; start Lifeline with it as \
                     LIFELINE_SECRET_KEY",
                    args.to.id()
                );
            });
        }
        Task::Drain(ref args) => {
            return run_async(drain(args), |()| {
                if args.undo {
                    println!(
                        "{} is back in service: it takes its share of sessions again",
                        args.instance
                    );
                } else {
                    println!(
                        "{} is draining: it hands its sessions over within one lease renewal \
                         and takes no new ones (`lifeline drain {} --undo` puts it back)",
                        args.instance, args.instance
                    );
                }
            });
        }
        Task::GenKey => {
            println!("{}", SecretKey::generate().to_base64());
            return ExitCode::SUCCESS;
        }
        // A short synchronous look: no runtime, no logging set-up.
        Task::Monitor(args) => return monitor::run(&args),
    };
    telemetry::init(settings.log_format);
    run_async(serve(settings), |()| {})
}

/// Runs `work` on a multi-threaded runtime; an error is one line on stderr and exit code 1.
fn run_async<T>(work: impl Future<Output = anyhow::Result<T>>, done: impl FnOnce(T)) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(work));
    match result {
        Ok(value) => {
            done(value);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lifeline: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn copy_db(args: &CopyDbArgs) -> anyhow::Result<copy::Copied> {
    let from: DatabaseUrl = args.from.parse().context("--from")?;
    let to: DatabaseUrl = args.to.parse().context("--to")?;
    if from.redacted() == to.redacted() {
        anyhow::bail!("--from and --to name the same database");
    }
    // Both are brought to the current schema first, so the copy is table for table.
    let (source, _claim) = open_existing(&from).await.context("--from")?;
    let _target_claim = InstanceLock::claim(&to)?;
    let target = Db::open(&to).await?;
    let copied = copy::copy(&source, &target).await?;
    source.close().await;
    target.close().await;
    Ok(copied)
}

/// Opens a database that must exist already (a SQLite path that names nothing is a
/// mistake to report, not a new empty database to create) and that no server is using: a
/// copy is read table by table and a rekey rewrites every key, so a server writing
/// meanwhile would leave a copy that never existed, or go on sealing with the old key.
async fn open_existing(url: &DatabaseUrl) -> anyhow::Result<(Db, Option<InstanceLock>)> {
    if let DatabaseUrl::Sqlite(options) = url
        && !options.get_filename().exists()
    {
        anyhow::bail!("there is no SQLite database at {}", options.get_filename().display());
    }
    let claim = InstanceLock::claim(url)?;
    Ok((Db::open(url).await?, claim))
}

async fn rekey(args: &RekeyArgs) -> anyhow::Result<u64> {
    let url: DatabaseUrl = args.database_url.parse().context("--database-url")?;
    let (db, _claim) = open_existing(&url).await?;
    let count = rekey::rekey(&db, &args.from, &args.to).await?;
    db.close().await;
    Ok(count)
}

async fn drain(args: &DrainArgs) -> anyhow::Result<()> {
    let url: DatabaseUrl = args.database_url.parse().context("--database-url")?;
    if let DatabaseUrl::Sqlite(_) = url {
        anyhow::bail!("only instances sharing a PostgreSQL database can be drained");
    }
    let db = Db::open(&url).await?;
    let found = leases::set_draining(&db, &args.instance, !args.undo).await?;
    db.close().await;
    if !found {
        anyhow::bail!(
            "no instance called {:?} has run on this database (LIFELINE_INSTANCE_NAME, by \
             default the host's name)",
            args.instance
        );
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let stop = shutdown::listen().context("cannot listen for shutdown signals")?;
    let options = dashboard_files::options().context("cannot read the site settings")?;
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
