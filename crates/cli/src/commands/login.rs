//! `login`: sign in once with a password; the CLI keeps an API token in its profile and every
//! later verb uses it for that server. It never stores the password.

use std::io::IsTerminal;

use clap::Args;
use serde_json::{json, Value};
use slipway_api::access::{CreatedToken, SessionView};

use crate::client::{encode, Client};
use crate::error::{Exit, Failure};
use crate::output::show;
use crate::profile::{self, Profile};
use crate::prompt::{ask_password, stdin_secret};
use crate::remote::Remote;

const SESSION_COOKIE: &str = "slipway_session";

#[derive(Args)]
pub struct LoginArgs {
    /// Your user name.
    #[arg(long, short = 'u')]
    username: String,
    /// Read the password from standard input (scripts); otherwise it is asked on the terminal.
    #[arg(long)]
    password_stdin: bool,
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
    let password = if args.password_stdin || !std::io::stdin().is_terminal() {
        stdin_secret("password")?
    } else {
        ask_password(&format!("password for {} at {server}: ", args.username))?
    };
    let client = Client::new(&server, None, pin);
    let session = sign_in(&client, &args.username, &password)?;
    let created = session_request(&client, "POST", "/api/v1/tokens", &session)
        .send_json(json!({ "name": format!("slipway login ({})", host_name()) }));
    let created: CreatedToken = read_json(&client, created)?;
    // The session was only a way to the token: end it rather than leave it to expire.
    let _ = session_request(&client, "DELETE", "/api/v1/session", &session).call();
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
        username: args.username.clone(),
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
        &json!({ "server": server, "username": args.username, "profile": path }),
        |_| {
            println!(
                "signed in to {server} as {}; the token is kept in {}",
                args.username,
                path.display()
            )
        },
    );
    Ok(())
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
