//! `aftersale`: every function in one local process, and the ops commands around it.

mod backend;
mod campaigns;
mod commands;
mod flows;
mod local;
mod loyalty;
mod secrets_file;
mod simulate;

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
    /// Use this DynamoDB table (and SES/SNS for sending) instead of the embedded store, through
    /// the default AWS credential chain and `AWS_ENDPOINT_URL`.
    #[arg(long, env = "AFTERSALE_TABLE", global = true)]
    pub dynamodb_table: Option<String>,
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
        #[command(flatten)]
        flows: FlowArgs,
        /// Seconds between runs of due work.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        tick_seconds: u64,
    },
    /// Run all due work (send, skip, defer) as of an instant, then exit.
    Tick {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        flows: FlowArgs,
        /// The instant to run as of (RFC 3339, e.g. 2026-12-01T10:00:00Z); default now.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        json: bool,
    },
    /// List every planned, sent, skipped or failed message.
    Outbox {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check a shop's configuration file, or load it into the store.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Replay events on a virtual clock and print the timeline a customer would experience.
    Simulate {
        /// JSON lines: {"at": RFC 3339, "platform": "shopify"|"woocommerce", "topic": ..., "shop": ...,
        /// "body": {...} or "body_file": "path relative to this file"}.
        #[arg(long)]
        events: PathBuf,
        /// A shop configuration file to simulate with.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Keep running due work this many days after the last event.
        #[arg(long, default_value_t = 60)]
        days_after: u32,
        #[arg(long)]
        json: bool,
    },
    /// Create the DynamoDB table exactly as template.yaml declares it (for emulators and dev accounts).
    InitTable {
        #[arg(long, env = "AFTERSALE_TABLE")]
        dynamodb_table: String,
    },
    /// List stored events, oldest first.
    Events {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: Option<String>,
        /// Only this customer's events (with --shop): what a `customers/data_request` asks for.
        #[arg(long, requires = "shop")]
        customer: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Early-access campaigns: a launch the chosen VIP tiers hear of before everyone else.
    Campaign {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object per line instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: CampaignAction,
    },
    /// Record customers' birthdays (platforms send none): a CSV of `customer_id,MM-DD`.
    /// VIP tier members are greeted on the day, in their own morning.
    Birthdays {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: String,
        /// The CSV file; a first line starting with `customer` is a header.
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Orders placed with a referral code, with the fraud checks' verdict.
    Referrals {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: String,
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

/// Options of the commands that run flows.
#[derive(clap::Args, Clone)]
pub struct FlowArgs {
    /// Base URL the 1-tap links in messages point at (default: http://<listen>).
    #[arg(long, env = "AFTERSALE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory of template overrides (`<flow>/<step>.<locale>.<part>.j2`, `shops/<shop>/...`).
    #[arg(long, env = "AFTERSALE_TEMPLATES")]
    pub templates: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate a configuration file and print the settings it results in.
    Check {
        file: PathBuf,
        /// The shop it is for (default: the file's `shop`).
        #[arg(long)]
        shop: Option<String>,
    },
    /// Validate and store a configuration file for its shop.
    Load {
        file: PathBuf,
        #[arg(long)]
        shop: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum CampaignAction {
    /// Store a campaign and plan a "you first" message to every customer in an invited tier,
    /// in the morning of the lead day in their own time zone. A name is used once per shop.
    #[command(group(clap::ArgGroup::new("text").required(true).args(["message", "message_file"])))]
    Create {
        /// The shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: String,
        /// The campaign's name, unique per shop (e.g. "Autumn drop").
        #[arg(long)]
        name: String,
        /// When the launch goes public (RFC 3339, e.g. 2026-10-15T09:00:00+02:00).
        #[arg(long, value_name = "TIME", value_parser = campaigns::parse_instant)]
        public_start: chrono::DateTime<chrono::Utc>,
        /// How many days before the public start the tiers hear of it (1 to 30).
        #[arg(long, value_name = "DAYS")]
        lead_days: u32,
        /// An invited tier, as named in the shop's `flows.vip.tiers`; repeat for more.
        #[arg(long = "tier", value_name = "TIER", required = true)]
        tiers: Vec<String>,
        /// The announcement's text.
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
        /// A file holding the announcement's text.
        #[arg(long, value_name = "PATH")]
        message_file: Option<PathBuf>,
    },
    /// List a shop's campaigns.
    List {
        #[arg(long)]
        shop: String,
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
    // A simulation's output is its timeline; keep routine logs out of it.
    let default_level = if matches!(cli.command, Command::Simulate { .. }) {
        "warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()),
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
                flows,
                tick_seconds,
            } => commands::serve(listen, &store, secrets_file.as_deref(), &flows, tick_seconds).await,
            Command::Tick {
                store,
                flows,
                now,
                json,
            } => flows::tick(&store, &flows, now, json).await,
            Command::Outbox { store, shop, json } => flows::outbox(&store, shop.as_deref(), json).await,
            Command::Config {
                action: ConfigAction::Check { file, shop },
            } => flows::config_check(&file, shop.as_deref()),
            Command::Config {
                action: ConfigAction::Load { file, shop, store },
            } => flows::config_load(&file, shop.as_deref(), &store).await,
            Command::Simulate {
                events,
                config,
                days_after,
                json,
            } => simulate::run(&events, config.as_deref(), days_after, json).await,
            Command::InitTable { dynamodb_table } => commands::init_table(&dynamodb_table).await,
            Command::Events {
                store,
                shop,
                customer,
                json,
            } => commands::events(&store, shop.as_deref(), customer.as_deref(), json).await,
            Command::Campaign {
                store,
                json,
                action:
                    CampaignAction::Create {
                        shop,
                        name,
                        public_start,
                        lead_days,
                        tiers,
                        message,
                        message_file,
                    },
            } => {
                let new = campaigns::NewCampaign {
                    shop,
                    name,
                    public_start,
                    lead_days,
                    tiers,
                    message,
                    message_file,
                };
                campaigns::create(&store, new, json).await
            }
            Command::Campaign {
                store,
                json,
                action: CampaignAction::List { shop },
            } => campaigns::list(&store, &shop, json).await,
            Command::Birthdays {
                store,
                shop,
                file,
                json,
            } => loyalty::import_birthdays(&store, &shop, &file, json).await,
            Command::Referrals { store, shop, json } => loyalty::referrals(&store, &shop, json).await,
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
