//! How an import shows itself: a progress bar (orders and customers done, rate, ETA) on a
//! terminal, plain periodic lines otherwise (a log, CI, a pipe).

use aftersale_import::{Progress, Summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A plain line at most this often.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The display for this process: a bar when stderr is a terminal, else lines.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(Lines::new())
    }
}

struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{elapsed_precise}] {wide_bar} {pos}/{len} orders ({per_sec}, ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }
}

impl Progress for Bar {
    fn expect(&self, orders: Option<u64>) {
        if let Some(orders) = orders {
            self.bar.set_length(orders);
        }
    }

    fn stage(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }

    fn advance(&self, summary: &Summary) {
        self.bar.set_position(summary.orders);
        if summary.customers > 0 {
            self.bar.set_message(format!("{} customers", summary.customers));
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

struct Lines {
    state: Mutex<LineState>,
}

struct LineState {
    started: Instant,
    last: Instant,
    expected: Option<u64>,
}

impl Lines {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(LineState {
                started: now,
                last: now,
                expected: None,
            }),
        }
    }
}

impl Progress for Lines {
    fn expect(&self, orders: Option<u64>) {
        if let (Some(orders), Ok(mut state)) = (orders, self.state.lock()) {
            state.expected = Some(orders);
        }
    }

    fn stage(&self, text: &str) {
        eprintln!("import: {text}");
    }

    fn advance(&self, summary: &Summary) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.last.elapsed() < LINE_EVERY {
            return;
        }
        state.last = Instant::now();
        let seconds = state.started.elapsed().as_secs_f64().max(0.001);
        let of = state.expected.map(|n| format!("/{n}")).unwrap_or_default();
        eprintln!(
            "import: {}{of} orders, {} customers, {:.0} orders/s; {} imported, {} unchanged, {} dead-lettered",
            summary.orders,
            summary.customers,
            summary.orders as f64 / seconds,
            summary.imported,
            summary.unchanged,
            summary.dead_lettered
        );
    }
}
