//! `login`: sign in once with a password, or through the OpenID provider in a browser
//! (`--sso`); the CLI keeps an API token in its profile and every later verb uses it for that
//! server. It never stores the password.

use std::io::IsTerminal;

use clap::Args;
use serde_json::{json, Value};
use slipway_api::access::{
    CliSignInPoll, CliSignInStatus, CliSignInView, CreatedToken, SessionView,
};

use crate::client::{encode, Client};
use crate::error::{Exit, Failure};
use crate::output::show;
use crate::profile::{self, Profile};
use crate::prompt::{ask_password, stdin_secret};
use crate::remote::Remote;

const SESSION_COOKIE: &str = "slipway_session";

#[derive(Args)]
pub struct LoginArgs {
    /// Your user name (with a password; not with --sso).
    #[arg(long, short = 'u', required_unless_present = "sso")]
    username: Option<String>,
    /// Read the password from standard input (scripts); otherwise it is asked on the terminal.
    #[arg(long)]
    password_stdin: bool,
    /// Sign in through the server's OpenID provider: open the address printed in a browser and
    /// sign in there; the CLI waits (up to 10 minutes) and receives a token.
    #[arg(long, conflicts_with_all = ["username", "password_stdin"])]
    sso: bool,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn login(args: LoginArgs) -> Result<(), Failure> {
    let previous = profile::load();
    // Without --server, sign in again where the profile points.
    let server = args
        .remote
        .server()
        .or_else(|| previous.as_ref().map(|p| p.server.clone()))
        .unwrap_or_else(|| args.remote.server_or_default());
    let pin = args.remote.server_fingerprint;
    let client = Client::new(&server, None, pin);
    let (username, created) = match &args.username {
        Some(username) if !args.sso => (
            username.clone(),
            with_password(&client, &server, username, args.password_stdin)?,
        ),
        _ => through_provider(&client, &server)?,
    };
    let token_id = created.token.id;
    let token = created.secret;
    if token.is_empty() {
        return Err(Failure::new(
            Exit::Failed,
            "error: the server answered without a token".to_string(),
        ));
    }
    let fresh = Profile {
        server: server.clone(),
        server_fingerprint: pin.map(|p| p.to_string()),
        username: username.clone(),
        token_id,
        token: token.clone(),
    };
    let path = profile::save(&fresh).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: cannot write the CLI profile: {e}\n  hint: set SLIPWAY_PROFILE to a file you may write"),
        )
    })?;
    // The token this one replaces stops working; a failure here leaves it to `token revoke`.
    if let Some(old) = previous.filter(|p| p.is_for(&server) && p.token != token) {
        let _ = Client::new(&server, Some(token), pin)
            .delete::<Value>(&format!("/api/v1/tokens/{}", encode(&old.token_id)));
    }
    show(
        &args.remote,
        &json!({ "server": server, "username": username, "profile": path }),
        |_| {
            println!(
                "signed in to {server} as {username}; the token is kept in {}",
                path.display()
            )
        },
    );
    Ok(())
}

/// A console session opened with the password, traded for a token, then ended.
fn with_password(
    client: &Client,
    server: &str,
    username: &str,
    password_stdin: bool,
) -> Result<CreatedToken, Failure> {
    let password = if password_stdin || !std::io::stdin().is_terminal() {
        stdin_secret("password")?
    } else {
        ask_password(&format!("password for {username} at {server}: "))?
    };
    let session = sign_in(client, username, &password)?;
    let created = session_request(client, "POST", "/api/v1/tokens", &session)
        .send_json(json!({ "name": format!("slipway login ({})", host_name()) }));
    let created: CreatedToken = read_json(client, created)?;
    // The session was only a way to the token: end it rather than leave it to expire.
    let _ = session_request(client, "DELETE", "/api/v1/session", &session).call();
    Ok(created)
}

/// The longest the CLI waits for the person, whatever the server says (its requests live 10
/// minutes).
const MOST_WAIT: std::time::Duration = std::time::Duration::from_secs(11 * 60);

/// `--sso`: ask for a sign-in request, print its address and code, and poll with its secret
/// until the person signed in at the provider (or the request ends).
fn through_provider(client: &Client, server: &str) -> Result<(String, CreatedToken), Failure> {
    let asked = client
        .raw("POST", "/api/v1/cli-sign-ins")
        .send_json(json!({ "host": host_name() }));
    let asked: CliSignInView = read_json(client, asked)?;
    let address = format!("{}{}", server.trim_end_matches('/'), asked.path);
    eprintln!(
        "Open this address in a browser and sign in:\n  {address}\n\
         The page shows the code {}: check that it is the same.\n\
         Waiting until {} …",
        asked.user_code, asked.expires_at
    );
    let every = std::time::Duration::from_secs(asked.poll_interval_secs.clamp(1, 30));
    let started = std::time::Instant::now();
    let path = format!("/api/v1/cli-sign-ins/{}/token", encode(&asked.id));
    while started.elapsed() < MOST_WAIT {
        std::thread::sleep(every);
        let polled = client
            .raw("POST", &path)
            .send_json(json!({ "secret": asked.secret }));
        let polled: CliSignInPoll = read_json(client, polled)?;
        match (polled.status, polled.username, polled.token) {
            (CliSignInStatus::SignedIn, Some(username), Some(token)) => {
                return Ok((username, token))
            }
            (CliSignInStatus::SignedIn, _, _) => {
                return Err(Failure::new(
                    Exit::Failed,
                    "error: the server said signed in but sent no token".to_string(),
                ))
            }
            (CliSignInStatus::Pending, _, _) => continue,
        }
    }
    Err(Failure::new(
        Exit::Failed,
        "error: nobody signed in for this request in time\n  hint: run `slipway login --sso` again and open the address it prints".to_string(),
    ))
}

struct Session {
    cookie: String,
    csrf: String,
}

fn sign_in(client: &Client, username: &str, password: &str) -> Result<Session, Failure> {
    let response = client.answer(
        client
            .raw("POST", "/api/v1/session")
            .send_json(json!({ "username": username, "password": password })),
    )?;
    let cookie = response
        .all("set-cookie")
        .into_iter()
        .find_map(|c| {
            let pair = c.split(';').next()?.trim();
            pair.starts_with(&format!("{SESSION_COOKIE}="))
                .then(|| pair.to_string())
        })
        .unwrap_or_default();
    let body: SessionView = response.into_json().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: the server's answer to signing in is not a session: {e}"),
        )
    })?;
    Ok(Session {
        cookie,
        csrf: body.csrf_token,
    })
}

fn session_request(client: &Client, method: &str, path: &str, session: &Session) -> ureq::Request {
    client
        .raw(method, path)
        .set("Cookie", &session.cookie)
        .set("X-CSRF-Token", &session.csrf)
}

fn read_json<T: serde::de::DeserializeOwned>(
    client: &Client,
    result: Result<ureq::Response, ureq::Error>,
) -> Result<T, Failure> {
    client.answer(result)?.into_json().map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("error: the server's answer is not JSON: {e}"),
        )
    })
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".to_string())
}
