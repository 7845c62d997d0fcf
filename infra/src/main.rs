//! `aftersale`: every function in one local process, and the ops commands around it.

mod backend;
mod campaigns;
mod cases;
mod commands;
mod deliveries;
mod edge;
mod flows;
mod import;
mod load;
mod local;
mod loyalty;
mod metrics;
mod points;
mod privacy;
mod progress;
mod recommendations;
mod reports;
mod secrets_file;
mod shops;
mod simulate;
mod ticker;
mod woocommerce;

use aftersale_domain::Secret;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// glibc's malloc and free took a sixth of `serve`'s instructions (every event decodes and
/// encodes JSON documents); with mimalloc an order takes 15% fewer (README, "Ingest under load").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Directory of the embedded store [default: ./.aftersale, which `serve` and `config load`
    /// create; other commands refuse to start an empty one there].
    #[arg(long, env = "AFTERSALE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Use this DynamoDB table (and SES/SNS for sending) instead of the embedded store, through
    /// the default AWS credential chain and `AWS_ENDPOINT_URL`.
    #[arg(long, env = "AFTERSALE_TABLE", global = true)]
    pub dynamodb_table: Option<String>,
}

#[derive(Subcommand)]
enum MetricsAction {
    /// Recompute the shop's rollups from its order, message and answer records.
    Rebuild,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webhook endpoints (and every other function) on the embedded store.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        /// Run on a clock that starts at this instant and moves at real speed (RFC 3339, e.g.
        /// 2022-01-01T00:00:00Z): trying it with `tick --now`, links then expire and are checked
        /// on one clock. Default: the real time.
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        store: StoreArgs,
        /// TOML file of per-site WooCommerce secrets: `[woocommerce.sites]` then `"shop.example" = "secret"`.
        #[arg(long, env = "AFTERSALE_SECRETS_FILE")]
        secrets_file: Option<PathBuf>,
        #[command(flatten)]
        flows: FlowArgs,
        #[command(flatten)]
        send: SendArgs,
        /// Seconds between runs of due work.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        tick_seconds: u64,
        /// Token that opens `/dashboard?shop=S&token=...` (or `Authorization: Bearer`) for any
        /// shop; required to open it without a signed link when listening beyond loopback.
        #[arg(long, env = "AFTERSALE_DASHBOARD_TOKEN")]
        dashboard_token: Option<String>,
    },
    /// Print a signed, expiring link to one shop's dashboard.
    DashboardLink {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: String,
        /// Hours the link works.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=720))]
        hours: u32,
        /// Where the dashboard is served (default: http://127.0.0.1:8787, `serve`'s default).
        #[arg(long, env = "AFTERSALE_PUBLIC_URL", default_value = "http://127.0.0.1:8787")]
        public_url: String,
    },
    /// Run all due work (send, skip, defer) as of an instant, then exit.
    Tick {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        flows: FlowArgs,
        /// The instant to run as of (RFC 3339, e.g. 2026-12-01T10:00:00Z); default now.
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// Where `serve` listens: the links in messages point there unless --public-url is given.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        #[command(flatten)]
        send: SendArgs,
        /// Stop claiming messages when less than --tick-margin of this is left (e.g. 30s, 2m,
        /// 500ms); what is still due waits for the next tick. Default: until nothing is due.
        #[arg(long, value_name = "DURATION", value_parser = parse_budget)]
        budget: Option<std::time::Duration>,
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
    /// A customer's loyalty points: the ledger and balance (`--shop S --customer C`), a manual
    /// adjustment (`adjust`), or double-points campaigns (`campaign`).
    #[command(args_conflicts_with_subcommands = false)]
    Points {
        #[command(flatten)]
        store: StoreArgs,
        /// The shop (e.g. demo.myshopify.com).
        #[arg(long, global = true)]
        shop: Option<String>,
        /// The customer's id on the platform.
        #[arg(long, global = true)]
        customer: Option<String>,
        /// One JSON object instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<PointsAction>,
    },
    /// The cross-sell pairs learned from the shop's counted orders (product, complement,
    /// support, confidence, lift, counts), learned first when missing or over a day old.
    Recommendations {
        #[command(flatten)]
        store: StoreArgs,
        /// The shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: String,
        /// Learn them again from the orders now, whatever their age.
        #[arg(long)]
        relearn: bool,
        /// One JSON object instead of a table.
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
    /// Make-it-right cases (problems customers reported after delivery), oldest first; or mark
    /// one answered (its time to first response) or resolved (its review request may then go).
    Cases {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: String,
        /// Mark the case of this order answered: support replied to the customer.
        #[arg(long, value_name = "ORDER", conflicts_with = "resolved")]
        answered: Option<String>,
        /// Mark the case of this order resolved.
        #[arg(long, value_name = "ORDER")]
        resolved: Option<String>,
        /// When it happened (default: now).
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        json: bool,
    },
    /// Survey scores, delivery answers and product ratings customers gave through the 1-tap
    /// links, newest first.
    Answers {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Retention figures, cohorts, per-flow funnels and lift against the holdout, from the
    /// rollups (`metrics rebuild` recomputes them from the records).
    Metrics {
        #[command(flatten)]
        store: StoreArgs,
        /// The shop (e.g. demo.myshopify.com).
        #[arg(long, global = true)]
        shop: Option<String>,
        /// First day counted (UTC, YYYY-MM-DD, inclusive).
        #[arg(long, value_name = "DATE", value_parser = metrics::parse_date)]
        from: Option<chrono::NaiveDate>,
        /// Last day counted (UTC, YYYY-MM-DD, inclusive).
        #[arg(long, value_name = "DATE", value_parser = metrics::parse_date)]
        to: Option<chrono::NaiveDate>,
        /// The instant the figures are as of (RFC 3339): it decides which LTV horizons and
        /// cohort months are complete. Default: now.
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// One JSON object instead of tables.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<MetricsAction>,
    },
    /// Customers in a VIP tier, with their orders and net spend.
    Customers {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: String,
        /// Only this tier, as named in the shop's `flows.vip.tiers`.
        #[arg(long, value_name = "NAME")]
        tier: Option<String>,
        /// Tiers as of this instant (RFC 3339), as `tick --now` runs: a calendar-year tier or
        /// a grace period depends on the date. Default: now.
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        json: bool,
    },
    /// Every shop with its platform, status (installed / uninstalled / redacted), scopes,
    /// webhooks and their health, token expiry, and last event received.
    Shops {
        #[command(flatten)]
        store: StoreArgs,
        /// The public base URL webhooks should be delivered to; registrations elsewhere show as stale.
        #[arg(long, env = "AFTERSALE_PUBLIC_URL")]
        public_url: Option<String>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The Shopify app: operations on installed shops.
    Shopify {
        #[command(subcommand)]
        action: ShopifyAction,
    },
    /// The customers' data requests (Shopify `customers/data_request`) a shop received, each
    /// with the export of everything Aftersale holds on the customer.
    DataRequests {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        shop: String,
        /// One JSON object per request instead of text.
        #[arg(long)]
        json: bool,
    },
    /// WooCommerce sites: create the webhooks Aftersale needs through the REST API, or show them.
    Woocommerce {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object per webhook instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: WooAction,
    },
    /// Bring a shop's order history in, through the same path as its webhooks: statistics,
    /// tiers, learned cycles and windows fill up, and only what is still ahead is planned (no
    /// message about last year). A progress bar on a terminal, plain lines otherwise.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// Print the summary as one JSON object (imported, unchanged, dead_lettered, duration_ms, ...).
        #[arg(long, global = true)]
        json: bool,
        /// Go on from the checkpoint of an interrupted import (Ctrl-C, a crash, `kill -9`).
        #[arg(long, global = true)]
        resume: bool,
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Check a capture of deliveries (one `{"headers": {...}, "body_b64": "..."}` per line)
    /// against the configured secrets, parser and normaliser; stores nothing. Prints
    /// `{"ok": N, "bad": M}` and exits 1 when a line is bad.
    CheckDeliveries {
        file: PathBuf,
        /// Also print each bad line's number and reason (on stderr).
        #[arg(long)]
        verbose: bool,
        #[command(flatten)]
        store: StoreArgs,
        /// TOML file of per-site WooCommerce secrets, as for `serve`.
        #[arg(long, env = "AFTERSALE_SECRETS_FILE")]
        secrets_file: Option<PathBuf>,
    },
    /// Post distinct signed deliveries to a running `serve` (Shopify and WooCommerce, with
    /// duplicates and out-of-order updates), check its store holds every accepted event exactly
    /// once, and report throughput and p50/p99 latency. Signs with SHOPIFY_API_SECRET and
    /// WOOCOMMERCE_WEBHOOK_SECRET.
    Load {
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        url: String,
        /// Distinct orders to send.
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value = "load.myshopify.com")]
        shop: String,
        /// The WooCommerce site the other orders come from.
        #[arg(long, default_value = "https://load-shop.example")]
        site: String,
        /// Percent of the orders from the WooCommerce site.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
        woocommerce_percent: u8,
        /// Percent of the deliveries sent twice, the second right after the first.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=100))]
        duplicate_percent: u8,
        /// Percent of the orders whose newer update is sent before their first delivery.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=100))]
        reorder_percent: u8,
        /// Also write every delivery to this JSONL capture (for `check-deliveries`).
        #[arg(long)]
        capture: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// The store `serve` writes to, for the exactly-once check.
        #[command(flatten)]
        store: StoreArgs,
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

/// The data dir when none is given.
const DEFAULT_DATA_DIR: &str = ".aftersale";

impl StoreArgs {
    pub fn data_dir(&self) -> &Path {
        self.data_dir.as_deref().unwrap_or(Path::new(DEFAULT_DATA_DIR))
    }

    /// Refuses to open the default store when there is none here: run from the wrong
    /// directory, a command would otherwise create an empty store and answer "0 message(s)".
    /// A directory named with `--data-dir` (or `AFTERSALE_DATA_DIR`) is taken as meant.
    pub fn check_present(&self) -> anyhow::Result<()> {
        if self.data_dir.is_none() && self.dynamodb_table.is_none() && !Path::new(DEFAULT_DATA_DIR).exists() {
            let here = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| ".".into());
            anyhow::bail!(
                "no store here: {here} has no {DEFAULT_DATA_DIR} directory. Run this where \
                 `aftersale serve` runs, or name the store with --data-dir (or AFTERSALE_DATA_DIR)"
            );
        }
        Ok(())
    }
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

/// How `serve` and `tick` send: concurrency, rates and the budget's margin.
#[derive(clap::Args, Clone)]
pub struct SendArgs {
    /// Messages a tick works on at once; 1 sends one after another.
    #[arg(long, env = "AFTERSALE_SEND_CONCURRENCY", default_value_t = aftersale_engine::DEFAULT_SEND_CONCURRENCY, value_parser = aftersale_engine::parse_concurrency)]
    pub concurrency: usize,
    /// Emails a second at most [default: none locally; with --dynamodb-table, SES's
    /// MaxSendRate from GetAccount].
    #[arg(long, env = "AFTERSALE_EMAIL_RATE", value_name = "PER_SECOND", value_parser = aftersale_engine::parse_rate)]
    pub email_rate: Option<f64>,
    /// SMS a second at most [default: none locally; with --dynamodb-table, 20, SNS's default].
    #[arg(long, env = "AFTERSALE_SMS_RATE", value_name = "PER_SECOND", value_parser = aftersale_engine::parse_rate)]
    pub sms_rate: Option<f64>,
    /// Seconds a tick with a --budget keeps for the messages in flight: it claims no new one
    /// once less than this is left.
    #[arg(long, env = "AFTERSALE_TICK_MARGIN_SECONDS", value_name = "SECONDS", default_value = "10", value_parser = aftersale_engine::parse_margin)]
    pub tick_margin: std::time::Duration,
}

impl FlowArgs {
    /// The links' base URL: `--public-url`, else the address `serve` listens on.
    pub fn public_url_for(&self, listen: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"))
    }
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
enum PointsAction {
    /// Record a manual entry in the customer's ledger (positive credits, negative debits).
    Adjust {
        /// Points to add (or, negative, take away), e.g. 50 or -20.
        #[arg(long, allow_hyphen_values = true)]
        points: i64,
        /// Why, as the customer's ledger will show it.
        #[arg(long)]
        reason: String,
    },
    /// Double-points windows.
    Campaign {
        #[command(subcommand)]
        action: PointsCampaignAction,
    },
}

#[derive(Subcommand)]
enum PointsCampaignAction {
    /// Orders placed in the window earn `--multiplier` times the points. Dates and times are
    /// the shop's local time: `--from 2026-12-05 --to 2026-12-06` is that whole weekend.
    Create {
        /// How many times the points, more than 1 and at most 10 (e.g. 2 or 1.5).
        #[arg(long)]
        multiplier: String,
        /// First local day (2026-12-05) or local time (2026-12-05T18:00) of the window.
        #[arg(long)]
        from: String,
        /// Last local day (inclusive) or local time (exclusive) of the window.
        #[arg(long)]
        to: String,
    },
    /// The shop's double-points windows, earliest first.
    List,
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
enum ShopifyAction {
    /// Register every webhook Aftersale needs in the shop (the step install runs): lists the
    /// existing subscriptions, creates the missing ones, moves wrong URIs. Running it again
    /// changes nothing.
    SyncWebhooks {
        #[command(flatten)]
        store: StoreArgs,
        /// The shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: String,
        /// Base of the delivery URL (`{public}/webhooks/shopify`).
        #[arg(long, env = "AFTERSALE_PUBLIC_URL")]
        public_url: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WooAction {
    /// Create (once) the site's webhooks order.created, order.updated, order.deleted,
    /// order.restored, customer.created and customer.updated, delivered to
    /// `<public URL>/webhooks/woocommerce` and signed with a secret Aftersale keeps; reactivate
    /// any WooCommerce disabled. Running it again changes nothing.
    Connect {
        /// The site's address, e.g. https://shop.example (http only for a local test site).
        #[arg(long)]
        url: String,
        /// A REST API key with Read/Write permission (WooCommerce → Settings → Advanced → REST
        /// API); kept sealed, so later runs and `status` need it no more.
        #[arg(long, env = "WOOCOMMERCE_CONSUMER_KEY", requires = "consumer_secret", hide_env_values = true, value_parser = secret_arg)]
        consumer_key: Option<Secret>,
        #[arg(long, env = "WOOCOMMERCE_CONSUMER_SECRET", requires = "consumer_key", hide_env_values = true, value_parser = secret_arg)]
        consumer_secret: Option<Secret>,
        /// The address WooCommerce reaches Aftersale at.
        #[arg(long, env = "AFTERSALE_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Each of the site's webhooks and its status (active, paused, disabled, missing).
    Status {
        #[arg(long)]
        url: String,
    },
    /// Bring in every order changed since the last successful reconcile that no webhook
    /// delivered, reactivate disabled webhooks, and alert the owner when anything was missed.
    Reconcile {
        #[arg(long)]
        url: String,
    },
}

#[derive(Subcommand)]
enum ImportSource {
    /// Every order of a Shopify shop, through a GraphQL bulk export: started, polled, then its
    /// JSONL file streamed one order at a time.
    Shopify {
        /// The shop (e.g. demo.myshopify.com).
        #[arg(long)]
        shop: String,
        /// Import a bulk export already downloaded (JSONL, run with groupObjects: true) instead.
        #[arg(long, value_name = "FILE")]
        jsonl: Option<PathBuf>,
        /// Seconds between two looks at the export's status.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
        poll_seconds: u64,
        /// A custom app's Admin API token (shpat_…), instead of the one install stored.
        #[arg(long, env = "SHOPIFY_ACCESS_TOKEN", hide_env_values = true, value_parser = secret_arg)]
        access_token: Option<Secret>,
        #[arg(long, env = "AFTERSALE_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Every order, then every customer, of a WooCommerce site through its REST API.
    Woocommerce {
        /// The site's address, e.g. https://shop.example.
        #[arg(long)]
        url: String,
        /// A REST API key (Read is enough); default: the one `woocommerce connect` stored.
        #[arg(long, env = "WOOCOMMERCE_CONSUMER_KEY", requires = "consumer_secret", hide_env_values = true, value_parser = secret_arg)]
        consumer_key: Option<Secret>,
        #[arg(long, env = "WOOCOMMERCE_CONSUMER_SECRET", requires = "consumer_key", hide_env_values = true, value_parser = secret_arg)]
        consumer_secret: Option<Secret>,
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

/// A shop named on the command line: a Shopify shop domain or a WooCommerce site's host
/// (`https://Shop.Example/` is read as `shop.example`).
pub fn parse_shop(text: &str) -> anyhow::Result<aftersale_domain::ShopId> {
    let shop = aftersale_domain::ShopId::from_domain(text)?;
    if let Some(problem) = aftersale_domain::shop_domain_problem(shop.as_str()) {
        anyhow::bail!(problem);
    }
    Ok(shop)
}

/// Parses `--now`, with an example of what is expected when it is not that.
/// A `--budget`: a number and a unit, `500ms`, `30s`, `2m` (at most 15 minutes, Lambda's
/// longest run).
fn parse_budget(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let wrong = || format!("'{text}' is not a budget: give a number and a unit, e.g. 30s, 2m or 500ms");
    let number: u64 = number.parse().map_err(|_| wrong())?;
    let budget = match unit {
        "ms" => std::time::Duration::from_millis(number),
        "s" => std::time::Duration::from_secs(number),
        "m" => std::time::Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(wrong()),
    };
    if budget.is_zero() || budget > std::time::Duration::from_secs(15 * 60) {
        return Err(format!(
            "'{text}' is not a budget: give more than 0 and at most 15m"
        ));
    }
    Ok(budget)
}

fn parse_now(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|err| format!("not an RFC 3339 time such as 2026-12-01T10:00:00Z ({err})"))
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
                now,
                store,
                secrets_file,
                flows,
                send,
                tick_seconds,
                dashboard_token,
            } => {
                let serve = commands::ServeOptions {
                    listen,
                    now,
                    secrets_file,
                    tick_seconds,
                    dashboard_token,
                };
                commands::serve(serve, &store, &flows, &send).await
            }
            Command::DashboardLink {
                store,
                shop,
                hours,
                public_url,
            } => metrics::dashboard_link(&store, &shop, hours, &public_url),
            Command::Tick {
                store,
                flows,
                now,
                listen,
                send,
                budget,
                json,
            } => {
                let tick = flows::TickOptions {
                    now,
                    listen,
                    budget,
                    json,
                };
                flows::tick(&store, &flows, &send, tick).await
            }
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
            Command::Points {
                store,
                shop,
                customer,
                json,
                action,
            } => {
                let (shop, customer) = (shop.as_deref(), customer.as_deref());
                match action {
                    None => points::show(&store, shop, customer, json).await,
                    Some(PointsAction::Adjust { points: n, reason }) => {
                        points::adjust(&store, shop, customer, n, &reason, json).await
                    }
                    Some(PointsAction::Campaign {
                        action: PointsCampaignAction::Create { multiplier, from, to },
                    }) => points::create_campaign(&store, shop, &multiplier, &from, &to, json).await,
                    Some(PointsAction::Campaign {
                        action: PointsCampaignAction::List,
                    }) => points::list_campaigns(&store, shop, json).await,
                }
            }
            Command::Recommendations {
                store,
                shop,
                relearn,
                json,
            } => recommendations::show(&store, &shop, relearn, json).await,
            Command::Referrals { store, shop, json } => loyalty::referrals(&store, &shop, json).await,
            Command::Answers { store, shop, json } => reports::answers(&store, shop.as_deref(), json).await,
            Command::Cases {
                store,
                shop,
                answered,
                resolved,
                now,
                json,
            } => {
                let change = match (answered, resolved) {
                    (Some(order), _) => Some(cases::Change::Answered(order)),
                    (None, Some(order)) => Some(cases::Change::Resolved(order)),
                    (None, None) => None,
                };
                cases::run(&store, &shop, change, now, json).await
            }
            Command::Metrics {
                store,
                shop,
                from,
                to,
                now,
                json,
                action,
            } => match (shop, action) {
                (None, _) => Err(anyhow::anyhow!(
                    "--shop is required: the shop whose metrics to use (e.g. --shop demo.myshopify.com)"
                )),
                (Some(shop), Some(MetricsAction::Rebuild)) => metrics::rebuild(&store, &shop, json).await,
                (Some(shop), None) => {
                    metrics::show(&store, &shop, aftersale_metrics::Range { from, to }, now, json).await
                }
            },
            Command::Customers {
                store,
                shop,
                tier,
                now,
                json,
            } => reports::customers(&store, &shop, tier.as_deref(), now, json).await,
            Command::Shops {
                store,
                public_url,
                json,
            } => shops::shops(&store, public_url.as_deref(), json).await,
            Command::Shopify {
                action:
                    ShopifyAction::SyncWebhooks {
                        store,
                        shop,
                        public_url,
                        json,
                    },
            } => shops::sync_webhooks(&store, &shop, public_url.as_deref(), json).await,
            Command::DataRequests { store, shop, json } => privacy::data_requests(&store, &shop, json).await,
            Command::Woocommerce {
                store,
                json,
                action:
                    WooAction::Connect {
                        url,
                        consumer_key,
                        consumer_secret,
                        public_url,
                    },
            } => {
                let args = woocommerce::ConnectArgs {
                    url,
                    consumer_key,
                    consumer_secret,
                    public_url,
                };
                woocommerce::connect(&store, args, json).await
            }
            Command::Woocommerce {
                store,
                json,
                action: WooAction::Status { url },
            } => woocommerce::status(&store, &url, json).await,
            Command::Woocommerce {
                store,
                json,
                action: WooAction::Reconcile { url },
            } => import::reconcile(&store, &url, json).await,
            Command::Import {
                store,
                json,
                resume,
                source:
                    ImportSource::Shopify {
                        shop,
                        jsonl,
                        poll_seconds,
                        access_token,
                        public_url,
                    },
            } => {
                let args = import::ShopifyArgs {
                    shop,
                    resume,
                    jsonl,
                    poll_seconds,
                    access_token,
                    public_url,
                };
                import::shopify(&store, args, json).await
            }
            Command::Import {
                store,
                json,
                resume,
                source:
                    ImportSource::Woocommerce {
                        url,
                        consumer_key,
                        consumer_secret,
                    },
            } => {
                let args = import::WooArgs {
                    url,
                    consumer_key,
                    consumer_secret,
                    resume,
                };
                import::woocommerce(&store, args, json).await
            }
            Command::CheckDeliveries {
                file,
                verbose,
                store,
                secrets_file,
            } => {
                let mut secrets = aftersale_ingest::WebhookSecrets::from_env();
                if let Some(path) = secrets_file.as_deref() {
                    secrets_file::load_into(path, &mut secrets)?;
                }
                let ingest = deliveries::checker(&store, secrets).await?;
                let counts = deliveries::check_file(&ingest, &file, verbose, &mut std::io::stderr()).await?;
                println!("{}", serde_json::to_string(&counts)?);
                if counts.bad > 0 {
                    anyhow::bail!(
                        "{} of {} deliveries would not be stored",
                        counts.bad,
                        counts.ok + counts.bad
                    );
                }
                Ok(())
            }
            Command::Load {
                url,
                orders,
                concurrency,
                shop,
                site,
                woocommerce_percent,
                duplicate_percent,
                reorder_percent,
                capture,
                json,
                store,
            } => {
                let options = load::LoadOptions {
                    url,
                    orders,
                    concurrency,
                    shop,
                    site,
                    woocommerce_percent: woocommerce_percent.into(),
                    duplicate_percent: duplicate_percent.into(),
                    reorder_percent: reorder_percent.into(),
                    capture,
                    json,
                };
                if !load::run(&options, &store).await? {
                    anyhow::bail!("the store does not hold every accepted delivery exactly once");
                }
                Ok(())
            }
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

/// A credential given as an argument or in the environment: kept as a [`Secret`], never blank.
fn secret_arg(value: &str) -> Result<Secret, String> {
    Secret::new(value).ok_or_else(|| "must not be blank".to_string())
}
