//! `user …`: user accounts (admin): create, list, disable, reset passwords. Passwords are read
//! from stdin, never from the command line.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::access::{CreatedUser, UserView};
use slipway_api::List;

use crate::client::encode;
use crate::error::Failure;
use crate::output::{show, table, word};
use crate::prompt::stdin_secret;
use crate::remote::{Remote, RemoteArgs};

#[derive(Subcommand)]
pub enum UserCommand {
    /// List users.
    #[command(after_help = "Example:\n  slipway user list")]
    List(RemoteArgs),
    /// Create a user; without --password-stdin a password is generated and shown once.
    #[command(
        after_help = "Examples:\n  slipway user create olivia --role ops\n  echo 'a long passphrase' | slipway user create dev1 --role developer --password-stdin"
    )]
    Create {
        username: String,
        /// admin, ops, developer, qa, security or viewer.
        #[arg(long)]
        role: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Change a user's role.
    #[command(after_help = "Example:\n  slipway user set-role olivia viewer")]
    SetRole {
        username: String,
        role: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Disable a user: sessions end, tokens stop working.
    #[command(after_help = "Example:\n  slipway user disable olivia")]
    Disable {
        username: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Enable a disabled user.
    #[command(after_help = "Example:\n  slipway user enable olivia")]
    Enable {
        username: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set a user's password, read from standard input.
    #[command(
        after_help = "Example:\n  printf '%s' 'a long passphrase' | slipway user password olivia"
    )]
    Password {
        username: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn user(command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::List(RemoteArgs { remote }) => {
            let users = remote.client().get::<List<UserView>>("/api/v1/users")?;
            show(&remote, &users, |list| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|u| {
                        vec![
                            u.username.clone(),
                            word(&u.role),
                            u.disabled.to_string(),
                            u.created_at.clone(),
                        ]
                    })
                    .collect();
                table(&["USERNAME", "ROLE", "DISABLED", "CREATED"], &rows)
            });
        }
        UserCommand::Create {
            username,
            role,
            password_stdin,
            remote,
        } => {
            let password = if password_stdin {
                Some(stdin_secret("password")?)
            } else {
                None
            };
            let created = remote.client().post::<CreatedUser>(
                "/api/v1/users",
                &json!({ "username": username, "role": role, "password": password }),
            )?;
            show(&remote, &created, |c| {
                println!("created user {} ({})", c.user.username, word(&c.user.role));
                if let Some(p) = &c.generated_password {
                    println!("password: {p}\n(shown this once)");
                }
            });
        }
        UserCommand::SetRole {
            username,
            role,
            remote,
        } => patch_user(&remote, &username, json!({ "role": role }))?,
        UserCommand::Disable { username, remote } => {
            patch_user(&remote, &username, json!({ "disabled": true }))?
        }
        UserCommand::Enable { username, remote } => {
            patch_user(&remote, &username, json!({ "disabled": false }))?
        }
        UserCommand::Password { username, remote } => {
            let password = stdin_secret("password")?;
            patch_user(&remote, &username, json!({ "password": password }))?
        }
    }
    Ok(())
}

fn patch_user(remote: &Remote, username: &str, body: Value) -> Result<(), Failure> {
    let user = remote
        .client()
        .patch::<UserView>(&format!("/api/v1/users/{}", encode(username)), &body)?;
    show(remote, &user, |u| {
        println!(
            "{}: role {}, {}",
            u.username,
            word(&u.role),
            if u.disabled { "disabled" } else { "enabled" }
        )
    });
    Ok(())
}
