//! `aftersale`: every function in one local process, and the ops commands around it.

mod backend;
mod commands;
mod secrets_file;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "aftersale",
    version,
    about = "Post-purchase retention engine: local mode and ops tooling"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where state lives: the embedded store by default.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded store (created if missing).
    #[arg(long, env = "AFTERSALE_DATA_DIR", default_value = ".aftersale", global = true)]
    pub data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook endpoints (and every other function) on the embedded store.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        #[command(flatten)]
        store: StoreArgs,
        /// TOML file of per-site WooCommerce secrets: `[woocommerce.sites]` then `"shop.example" = "secret"`.
        #[arg(long, env = "AFTERSALE_SECRETS_FILE")]
        secrets_file: Option<PathBuf>,
    },
    /// List stored events, oldest first.
    Events {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List dead letters, or replay them after a fix.
    DeadLetters {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<DeadLetterAction>,
    },
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// Run pending dead letters through today's parser; successes are stored and marked replayed.
    Replay {
        /// Only this dead letter id.
        #[arg(long)]
        id: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                store,
                secrets_file,
            } => commands::serve(listen, &store, secrets_file.as_deref()).await,
            Command::Events { store, shop, json } => commands::events(&store, shop.as_deref(), json).await,
            Command::DeadLetters {
                store,
                json,
                action: None,
            } => commands::dead_letters(&store, json).await,
            Command::DeadLetters {
                store,
                json,
                action: Some(DeadLetterAction::Replay { id }),
            } => commands::replay(&store, id.as_deref(), json).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
