//! A real S3-compatible server for the vault's S3 tests: Garage (crates.io `garage`), started
//! with its own configuration, data folder and loopback ports, a bucket and a key made with its
//! own CLI, and killed when dropped.
//!
//! The binary is `SLIPWAY_GARAGE`, else `~/.cache/slipway-garage/bin/garage` (where `.ci/run`
//! installs it), else `garage` on the PATH. Missing, the tests are skipped with a loud message —
//! never on CI (`CI` set), where they fail. Off CI only, when Garage is missing but moto's server
//! mode is installed (`pip install "moto[server]"`), the tests run against it instead, saying so:
//! it speaks the same S3 protocol but checks no credentials, so the refusal of wrong keys is
//! skipped there.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub(crate) const BUCKET: &str = "slipway-vault";
pub(crate) const REGION: &str = "garage";

/// A running Garage node with one bucket and one key that may read and write it.
pub(crate) struct Garage {
    child: Child,
    /// False for moto, which accepts any key.
    pub checks_credentials: bool,
    program: PathBuf,
    config: PathBuf,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    _dir: tempfile::TempDir,
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLIPWAY_GARAGE") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let cached = home.join(".cache/slipway-garage/bin/garage");
    if cached.is_file() {
        return Some(cached);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("garage"))
            .find(|p| p.is_file())
    })
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    getrandom::getrandom(&mut raw).expect("random bytes");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

impl Garage {
    /// Start Garage, or `None` when it is not installed here (never on CI).
    pub(crate) fn start() -> Option<Garage> {
        Garage::start_with(&[])
    }

    /// [`Garage::start`] with extra top-level configuration lines (e.g. `data_fsync = true`).
    pub(crate) fn start_with(extra_config: &[&str]) -> Option<Garage> {
        let Some(program) = program() else {
            let missing = "garage is not installed (cargo install --locked garage --root ~/.cache/slipway-garage)";
            if std::env::var_os("CI").is_some() {
                panic!("{missing}: CI must install it (.ci/run) to test the vault on S3");
            }
            if let Some(moto) = Garage::start_moto() {
                eprintln!("NOTE: {missing}; testing against moto's S3 server instead");
                return Some(moto);
            }
            slipway_store::testing::report_skipped(missing);
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (rpc, s3, admin) = (free_port(), free_port(), free_port());
        let config = dir.path().join("garage.toml");
        let text = format!(
            r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"
{extra}

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{token}"
"#,
            meta = dir.path().join("meta").display(),
            data = dir.path().join("data").display(),
            secret = hex(32),
            token = hex(16),
            extra = extra_config.join("\n"),
        );
        std::fs::write(&config, text).expect("the configuration is written");
        let log = std::fs::File::create(dir.path().join("garage.log")).expect("a log file");
        let child = Command::new(&program)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", program.display()));
        let mut garage = Garage {
            child,
            checks_credentials: true,
            program,
            config,
            endpoint: format!("http://127.0.0.1:{s3}"),
            access_key: String::new(),
            secret_key: String::new(),
            _dir: dir,
        };
        garage.wait_until_up();
        let node = garage.cli_ok(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap_or("").to_string();
        garage.cli_ok(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.cli_ok(&["layout", "apply", "--version", "1"]);
        garage.cli_ok(&["bucket", "create", BUCKET]);
        let key = garage.cli_ok(&["key", "create", "slipway-test"]);
        garage.access_key = field(&key, "Key ID");
        garage.secret_key = field(&key, "Secret key");
        garage.cli_ok(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            BUCKET,
            "--key",
            "slipway-test",
        ]);
        garage.wait_for_s3(s3);
        garage.wait_for_bucket();
        Some(garage)
    }

    /// moto's S3 server on a free port with the bucket made (off CI, when Garage is missing).
    fn start_moto() -> Option<Garage> {
        let server = on_path("moto_server")?;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("garage.log")).expect("a log file");
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .ok()?;
        let garage = Garage {
            child,
            checks_credentials: false,
            program: PathBuf::from("moto_server"),
            config: PathBuf::new(),
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: "AKIDSLIPWAYTEST".into(),
            secret_key: "moto-accepts-any-secret".into(),
            _dir: dir,
        };
        garage.wait_for_s3(port);
        // moto creates a bucket on an unsigned PUT of its name.
        let made = ureq::put(&format!("{}/{BUCKET}", garage.endpoint)).call();
        assert!(made.is_ok(), "moto did not create the bucket: {made:?}");
        Some(garage)
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(&self.program)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("RUST_LOG", "garage=warn")
            .output()
            .expect("the garage CLI runs")
    }

    /// Run the garage CLI and return its output, failing the test when it fails.
    pub(crate) fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "garage {args:?} failed:\n{}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("garage.log")).unwrap_or_default()
    }

    fn wait_until_up(&mut self) {
        for _ in 0..120 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("garage stopped at start ({status}):\n{}", self.log());
            }
            if self.cli(&["status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("garage did not answer within 30 s:\n{}", self.log());
    }

    /// The S3 port answers once the layout is applied.
    fn wait_for_s3(&self, port: u16) {
        for _ in 0..120 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("garage's S3 port did not open within 30 s:\n{}", self.log());
    }

    /// A fresh layout takes a moment to serve requests: list the bucket until it answers.
    fn wait_for_bucket(&self) {
        let bucket = self.bucket("ready");
        let mut last = String::new();
        for _ in 0..120 {
            match bucket.keys("") {
                Ok(_) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "garage's bucket did not answer within 30 s: {last}\n{}",
            self.log()
        );
    }

    /// The server environment that keeps the vault in this Garage under `prefix`.
    pub(crate) fn vault_env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("SLIPWAY_VAULT".into(), format!("s3://{BUCKET}/{prefix}")),
            ("SLIPWAY_S3_ENDPOINT".into(), self.endpoint.clone()),
            ("SLIPWAY_S3_REGION".into(), REGION.into()),
            ("SLIPWAY_S3_ACCESS_KEY_ID".into(), self.access_key.clone()),
            (
                "SLIPWAY_S3_SECRET_ACCESS_KEY".into(),
                self.secret_key.clone(),
            ),
        ]
    }

    /// Plain access to the bucket under `prefix`, to look at and damage objects.
    pub(crate) fn bucket(&self, prefix: &str) -> slipway_server::vault::s3::Bucket {
        let env = self.vault_env(prefix);
        let settings =
            slipway_server::vault::S3Settings::parse(&format!("s3://{BUCKET}/{prefix}"), |name| {
                env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
            })
            .expect("the test's settings are valid");
        slipway_server::vault::s3::Bucket::new(&settings)
    }
}

/// `Key ID: GK…` → `GK…`, from the garage CLI's key description.
fn field(text: &str, name: &str) -> String {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("no `{name}` in garage's answer:\n{text}"))
}
