//! Starting moto server for the tests, and reading back what it recorded.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A running `moto_server`. It is started through a small shell that kills it as soon as our
/// end of its stdin closes, so the server goes away with the test binary however that ends
/// (a static is never dropped, and a panic may abort).
pub struct Moto {
    pub endpoint: String,
    child: Child,
    /// Closing this tells the shell to stop moto.
    stdin: Option<ChildStdin>,
}

/// The binary's one moto server, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    fn start() -> Moto {
        let on_path = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("moto_server").is_file()));
        assert!(
            on_path,
            "moto_server is not on PATH: these tests run the AWS adapters against moto. \
             Install it with `pip install 'moto[server]'` (the CI script does)."
        );

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let log = std::env::temp_dir().join(format!("aftersale-moto-{}-{port}.log", std::process::id()));
        // moto's own server, one request at a time (see moto_server.py for why).
        let script = std::env::temp_dir().join(format!("aftersale-moto-{}-{port}.py", std::process::id()));
        std::fs::write(&script, include_str!("moto_server.py")).expect("writing the moto launcher");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"python3 "$3" 127.0.0.1 "$1" >"$2" 2>&1 & pid=$!; read _closed; kill "$pid" 2>/dev/null; wait "$pid"; rm -f "$2" "$3""#)
            .arg("sh")
            .arg(port.to_string())
            .arg(&log)
            .arg(&script)
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting moto_server through sh");
        let stdin = child.stdin.take().expect("piped stdin");

        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "moto_server exited ({status}) before listening; see {}:\n{}",
                    log.display(),
                    read(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 60 s; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            stdin: Some(stdin),
        }
    }

    /// An SDK configuration pointing at this server, with fake static credentials, and the
    /// production retry policy, but a patient attempt timeout.
    ///
    /// Production gives up on an attempt after 3 s and retries it. On a loaded test machine
    /// moto can take longer than that, and keeps working on the attempt the SDK gave up on;
    /// moto's conditional writes are not atomic against each other, so the retry and its own
    /// original can both pass a version condition, and the late one overwrites what came
    /// after it (a message `sent` turned back into `sending`). DynamoDB checks and writes
    /// atomically, so that race is the emulator's, not ours: the tests wait for moto instead.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .retry_config(aftersale_aws::retry_config())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            )
            .load()
            .await
    }

    /// moto's record of its backends' state (sent emails, SMS, topic notifications...).
    pub async fn data(&self) -> serde_json::Value {
        let url = format!("{}/moto-api/data.json", self.endpoint);
        let response = reqwest::get(&url).await.expect("moto's data endpoint answers");
        response.json().await.expect("moto's data is JSON")
    }
}

impl Drop for Moto {
    /// Closes the shell's stdin (it then stops moto and removes the log) and reaps the shell.
    /// A failed wait can only leave a finished process behind: nothing to report.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn read(path: &PathBuf) -> String {
    let mut text = String::new();
    let _ = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    text
}

/// A name no other test in this run (or an earlier run on the same server) uses.
pub fn unique(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("{label}-{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
