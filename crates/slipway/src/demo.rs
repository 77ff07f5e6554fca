//! `slipway demo-appserver`: a stand-in for JBoss in the bundled example, so `slipway up` can
//! deploy Pets for real on any machine — no Java needed. It serves the WAR placed under
//! `ROOT/webapps/current/pets-war` over HTTP on 127.0.0.1, and starts and stops like a service.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use slipway_cli::{Exit, Failure};

#[derive(Args)]
pub(crate) struct DemoArgs {
    #[command(subcommand)]
    command: DemoCommand,
    /// The application root: the WAR is read from ROOT/webapps/current/pets-war.
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, global = true, default_value_t = 8081)]
    port: u16,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Start in the background and return once it answers.
    Start,
    /// Stop the running one (nothing to do when it is not running).
    Stop,
    /// Serve in the foreground (what `start` runs).
    Serve,
}

fn fail(message: String) -> Failure {
    Failure::new(Exit::Failed, format!("error: {message}"))
}

pub(crate) fn run(args: DemoArgs) -> Result<(), Failure> {
    let pidfile = args.root.join("appserver.pid");
    match args.command {
        DemoCommand::Serve => serve(&args.root, args.port),
        DemoCommand::Stop => {
            stop(&pidfile);
            Ok(())
        }
        DemoCommand::Start => {
            println!("{}", start(&args.root, args.port, &pidfile)?);
            Ok(())
        }
    }
}

// kill(2) has no safe wrapper in std.
#[allow(unsafe_code)]
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists; it sends nothing.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn running_pid(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| alive(*p))
}

/// Start the one serving `root` from `up`, which prints its own line.
pub(crate) fn start_quietly(root: &Path, port: u16) -> anyhow::Result<()> {
    start(root, port, &root.join("appserver.pid"))
        .map(drop)
        .map_err(|f| anyhow::anyhow!("{}", f.message.trim_start_matches("error: ")))
}

/// Start it in the background; the line to print once it answers.
fn start(root: &Path, port: u16, pidfile: &Path) -> Result<String, Failure> {
    if let Some(pid) = running_pid(pidfile) {
        return Ok(format!("application server already running (pid {pid})"));
    }
    std::fs::create_dir_all(root)
        .map_err(|e| fail(format!("cannot create {}: {e}", root.display())))?;
    let log = std::fs::File::create(root.join("appserver.log")).map_err(|e| fail(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    // Its output goes to a file: a child holding the caller's pipes would keep the step open.
    let child = Command::new(exe)
        .args([
            "demo-appserver",
            "serve",
            "--port",
            &port.to_string(),
            "--root",
        ])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            log.try_clone().map_err(|e| fail(e.to_string()))?,
        ))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| fail(format!("cannot start the application server: {e}")))?;
    std::fs::write(pidfile, child.id().to_string()).map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(format!(
                "application server started on http://127.0.0.1:{port} (pid {})",
                child.id()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(fail(format!(
        "the application server did not answer on port {port} within 10 s; see {}",
        root.join("appserver.log").display()
    )))
}

/// Stop the one serving `root`, for `up`'s shutdown: in this process, not through a new one.
pub(crate) fn stop_quietly(root: &Path) {
    if let Some(pid) = running_pid(&root.join("appserver.pid")) {
        terminate(pid);
        let _ = std::fs::remove_file(root.join("appserver.pid"));
    }
}

fn stop(pidfile: &Path) {
    let Some(pid) = running_pid(pidfile) else {
        let _ = std::fs::remove_file(pidfile);
        println!("application server not running");
        return;
    };
    terminate(pid);
    let _ = std::fs::remove_file(pidfile);
    println!("application server stopped (pid {pid})");
}

/// SIGTERM, then wait for the process to go, at most 10 s.
fn terminate(pid: i32) {
    // SAFETY: `pid` is the process this command started (read from its pid file, checked alive).
    #[allow(unsafe_code)] // kill(2) has no safe wrapper in std.
    unsafe {
        libc::kill(pid, libc::SIGTERM)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` has exited. When `up` started it, it is our child: once it exits it stays a
/// zombie that `kill(pid, 0)` still finds until we reap it, so reap it first (without blocking).
fn gone(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid(2) with WNOHANG only reads our own children's state into `status`; for a
    // process that is not our child it fails with ECHILD and changes nothing.
    #[allow(unsafe_code)] // waitpid(2) has no safe wrapper in std for a pid we hold as a number.
    let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    reaped == pid || !alive(pid)
}

fn serve(root: &Path, port: u16) -> Result<(), Failure> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| fail(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let war = root.join("webapps/current/pets-war");
    for stream in listener.incoming().flatten() {
        let _ = answer(stream, &war);
    }
    Ok(())
}

fn answer(mut stream: TcpStream, war: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = [0u8; 2048];
    let _ = stream.read(&mut request)?;
    let (status, body) = match std::fs::read(war) {
        Ok(bytes) => ("200 OK", bytes),
        Err(_) => (
            "503 Service Unavailable",
            b"no application deployed\n".to_vec(),
        ),
    };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    stream.write_all(&body)
}
