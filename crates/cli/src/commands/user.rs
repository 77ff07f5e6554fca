//! `user …`: user accounts (admin): create, list, disable, reset passwords. Passwords are read
//! from stdin, never from the command line.

use clap::Subcommand;
use serde_json::{json, Value};
use slipway_api::access::{CreatedUser, UserUpdateView, UserView};
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
    /// Create a user; without --password-stdin a password is generated and shown once. A role
    /// above viewer waits for a second admin (the user is a viewer until then), unless you are
    /// the only admin.
    #[command(
        after_help = "Examples:\n  slipway user create olivia --role ops    # waits: another admin runs `slipway config-change approve N`\n  echo 'a long passphrase' | slipway user create dev1 --role developer --password-stdin"
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
    /// Change a user's role. A lowering applies at once; a raise (to a role of higher rank, or
    /// another role of the same rank) waits for a second admin as a configuration change request.
    #[command(
        after_help = "Examples:\n  slipway user set-role olivia viewer\n  slipway user set-role dana admin    # waits: another admin runs `slipway config-change approve N`"
    )]
    SetRole {
        username: String,
        role: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set the name printed with a person's electronic signatures ("" for the user name).
    #[command(after_help = "Example:\n  slipway user set-name quinn \"Quinn Q.\"")]
    SetName {
        username: String,
        full_name: String,
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
                if let Some(held) = &c.held {
                    println!(
                        "  the role asked waits for another {}: configuration change request {} ({}): `slipway config-change approve {}`\n  until then {} is a viewer",
                        word(&held.waits_for),
                        held.id,
                        held.details.join("; "),
                        held.id,
                        c.user.username
                    );
                }
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
        UserCommand::SetName {
            username,
            full_name,
            remote,
        } => patch_user(&remote, &username, json!({ "full_name": full_name }))?,
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
    let updated = remote
        .client()
        .patch::<UserUpdateView>(&format!("/api/v1/users/{}", encode(username)), &body)?;
    show(remote, &updated, |u| {
        println!(
            "{}: role {}, {}{}",
            u.user.username,
            word(&u.user.role),
            if u.user.disabled {
                "disabled"
            } else {
                "enabled"
            },
            u.user
                .full_name
                .as_ref()
                .map(|n| format!(", signs as {n}"))
                .unwrap_or_default()
        );
        if let Some(held) = &u.held {
            println!(
                "  waits for another {}: configuration change request {} ({}): `slipway config-change approve {}`",
                word(&held.waits_for),
                held.id,
                held.details.join("; "),
                held.id
            );
        }
    });
    Ok(())
}
