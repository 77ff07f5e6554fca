//! Client verbs that read and administer the server: audit, users, tokens, environments,
//! projects, variables, targets.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{encode, Exit, Failure};
use crate::output::{self, cell, items, show, table, Format};
use crate::Remote;

fn rows(value: &Value, fields: &[&str]) -> Vec<Vec<String>> {
    items(value)
        .iter()
        .map(|item| fields.iter().map(|f| cell(&item[*f])).collect())
        .collect()
}

pub fn whoami(remote: &Remote) -> Result<(), Failure> {
    let me = remote.client().get("/api/v1/whoami")?;
    show(remote, &me, |v| {
        println!("{} ({})", cell(&v["username"]), cell(&v["role"]))
    });
    Ok(())
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List events, newest first, filtered by prefix.
    #[command(
        after_help = "Examples:\n  slipway audit list --subject project/pets\n  slipway audit list --verb access.denied --limit 20"
    )]
    List {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        verb: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// Only events older than this sequence number (the `next` of the previous page).
        #[arg(long)]
        before: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Re-walk the chain; exit 1 naming the first event that was modified, deleted, inserted or reordered.
    #[command(after_help = "Example:\n  slipway audit verify && echo intact")]
    Verify {
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn audit(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::List {
            actor,
            verb,
            subject,
            before,
            limit,
            remote,
        } => {
            let mut query = format!("?limit={limit}");
            for (k, v) in [("actor", actor), ("verb", verb), ("subject", subject)] {
                if let Some(v) = v {
                    query.push_str(&format!("&{k}={}", encode(&v)));
                }
            }
            if let Some(b) = before {
                query.push_str(&format!("&before={b}"));
            }
            let page = remote.client().get(&format!("/api/v1/audit{query}"))?;
            show(&remote, &page, |p| {
                table(
                    &["SEQ", "AT", "ACTOR", "VERB", "SUBJECT", "DETAILS"],
                    &rows(p, &["seq", "at", "actor", "verb", "subject", "details"]),
                );
                if !p["next"].is_null() {
                    println!("older events: --before {}", p["next"]);
                }
            });
            Ok(())
        }
        AuditCommand::Verify { remote } => {
            let result = remote.client().get("/api/v1/audit/verify")?;
            if result["intact"] == true {
                show(&remote, &result, |r| {
                    println!("audit chain intact: {} events", r["events"])
                });
                Ok(())
            } else {
                if remote.output == Format::Json {
                    output::json(&result);
                }
                Err(Failure::new(
                    Exit::Failed,
                    format!(
                        "audit chain BROKEN at sequence {}: {}",
                        result["first_bad_seq"],
                        cell(&result["detail"])
                    ),
                ))
            }
        }
    }
}

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

#[derive(Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    remote: Remote,
}

fn stdin_secret(what: &str) -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| {
        Failure::new(
            Exit::Invalid,
            format!("error: cannot read the {what} from standard input: {e}"),
        )
    })?;
    let text = text.trim_end_matches(['\n', '\r']).to_string();
    if text.is_empty() {
        return Err(Failure::new(
            Exit::Invalid,
            format!("error: the {what} on standard input is empty"),
        ));
    }
    Ok(text)
}

pub fn user(command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::List(RemoteArgs { remote }) => {
            let users = remote.client().get("/api/v1/users")?;
            show(&remote, &users, |u| {
                table(
                    &["USERNAME", "ROLE", "DISABLED", "CREATED"],
                    &rows(u, &["username", "role", "disabled", "created_at"]),
                )
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
            let created = remote.client().post(
                "/api/v1/users",
                &json!({ "username": username, "role": role, "password": password }),
            )?;
            show(&remote, &created, |c| {
                println!(
                    "created user {} ({})",
                    cell(&c["user"]["username"]),
                    cell(&c["user"]["role"])
                );
                if let Some(p) = c["generated_password"].as_str() {
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
        .patch(&format!("/api/v1/users/{}", encode(username)), &body)?;
    show(remote, &user, |u| {
        println!(
            "{}: role {}, {}",
            cell(&u["username"]),
            cell(&u["role"]),
            if u["disabled"] == true {
                "disabled"
            } else {
                "enabled"
            }
        )
    });
    Ok(())
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; the secret is printed once.
    #[command(
        after_help = "Examples:\n  slipway token create --name gitlab-ci\n  slipway token create --name deploy-bot --user bot   # admins only"
    )]
    Create {
        #[arg(long)]
        name: String,
        /// Create it for another user (admin).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List tokens (yours; an admin sees all).
    #[command(after_help = "Example:\n  slipway token list")]
    List(RemoteArgs),
    /// Revoke a token: it stops working at once.
    #[command(after_help = "Example:\n  slipway token revoke 3f9c…")]
    Revoke {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn token(command: TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Create { name, user, remote } => {
            let created = remote
                .client()
                .post("/api/v1/tokens", &json!({ "name": name, "username": user }))?;
            show(&remote, &created, |c| {
                println!(
                    "token {} for {} ({})",
                    cell(&c["token"]["id"]),
                    cell(&c["token"]["username"]),
                    cell(&c["token"]["name"])
                );
                println!("{}", cell(&c["secret"]));
                println!(
                    "(shown this once: store it now, e.g. as SLIPWAY_TOKEN in your CI secrets)"
                );
            });
        }
        TokenCommand::List(RemoteArgs { remote }) => {
            let tokens = remote.client().get("/api/v1/tokens")?;
            show(&remote, &tokens, |t| {
                table(
                    &["ID", "USER", "NAME", "CREATED", "REVOKED"],
                    &rows(t, &["id", "username", "name", "created_at", "revoked_at"]),
                )
            });
        }
        TokenCommand::Revoke { id, remote } => {
            remote
                .client()
                .delete(&format!("/api/v1/tokens/{}", encode(&id)))?;
            show(&remote, &json!({ "revoked": id }), |_| {
                println!("revoked token {id}")
            });
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum EnvCommand {
    /// List environments in delivery order.
    #[command(after_help = "Example:\n  slipway env list")]
    List(RemoteArgs),
    /// Show one environment.
    #[command(after_help = "Example:\n  slipway env show PROD-EU")]
    Show {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn environment(command: EnvCommand) -> Result<(), Failure> {
    match command {
        EnvCommand::List(RemoteArgs { remote }) => {
            let envs = remote.client().get("/api/v1/environments")?;
            show(&remote, &envs, |e| {
                table(
                    &["#", "NAME", "REGION", "PROTECTED", "DESCRIPTION"],
                    &rows(
                        e,
                        &["position", "name", "region", "protected", "description"],
                    ),
                )
            });
        }
        EnvCommand::Show { name, remote } => {
            let env = remote
                .client()
                .get(&format!("/api/v1/environments/{}", encode(&name)))?;
            show(&remote, &env, |e| {
                for k in ["name", "position", "region", "protected", "description"] {
                    println!("{k:<12}{}", cell(&e[k]));
                }
            });
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// List projects.
    #[command(after_help = "Example:\n  slipway project list")]
    List(RemoteArgs),
    /// Show a project: components, plan, lifecycles, and the rollback plan derived for an environment.
    #[command(after_help = "Example:\n  slipway project show pets --rollback-for DEV")]
    Show {
        name: String,
        /// Also show the rollback plan derived from the plan as it runs in this environment.
        #[arg(long)]
        rollback_for: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn project(command: ProjectCommand) -> Result<(), Failure> {
    match command {
        ProjectCommand::List(RemoteArgs { remote }) => {
            let projects = remote.client().get("/api/v1/projects")?;
            show(&remote, &projects, |p| {
                let rows: Vec<Vec<String>> = items(p)
                    .iter()
                    .map(|x| {
                        vec![
                            cell(&x["name"]),
                            x["components"].as_array().map_or(0, Vec::len).to_string(),
                            x["plan"].as_array().map_or(0, Vec::len).to_string(),
                            cell(&x["description"]),
                        ]
                    })
                    .collect();
                table(&["NAME", "COMPONENTS", "STEPS", "DESCRIPTION"], &rows);
            });
        }
        ProjectCommand::Show {
            name,
            rollback_for,
            remote,
        } => {
            let client = remote.client();
            let project = client.get(&format!("/api/v1/projects/{}", encode(&name)))?;
            let rollback = match &rollback_for {
                Some(env) => Some(client.get(&format!(
                    "/api/v1/projects/{}/rollback-preview?environment={}",
                    encode(&name),
                    encode(env)
                ))?),
                None => None,
            };
            if remote.output == Format::Json {
                output::json(&json!({ "project": project, "rollback": rollback }));
                return Ok(());
            }
            print_project(&project);
            if let (Some(env), Some(r)) = (rollback_for, rollback) {
                println!("\nRollback plan if the deployment to {env} has to be undone:");
                for s in r["steps"].as_array().into_iter().flatten() {
                    println!("  {}  {}", cell(&s["action"]), cell(&s["name"]));
                }
                for l in r["left_as_is"].as_array().into_iter().flatten() {
                    let mark = if l["irreversible"] == true {
                        "IRREVERSIBLE"
                    } else {
                        "left as is"
                    };
                    println!(
                        "  ({mark}) step {} {}: {}",
                        l["step"],
                        cell(&l["name"]),
                        cell(&l["reason"])
                    );
                }
            }
        }
    }
    Ok(())
}

fn print_project(p: &Value) {
    println!("{} — {}", cell(&p["name"]), cell(&p["description"]));
    println!("\nComponents:");
    for c in p["components"].as_array().into_iter().flatten() {
        println!(
            "  {:<16} {:<12} {}",
            cell(&c["name"]),
            cell(&c["kind"]),
            cell(&c["description"])
        );
    }
    println!("\nPlan:");
    for (i, s) in p["plan"].as_array().into_iter().flatten().enumerate() {
        println!(
            "  {:>2}. {:<32} {:<16} roles {}",
            i + 1,
            cell(&s["name"]),
            cell(&s["action"]),
            cell(&s["roles"])
        );
    }
    println!("\nLifecycles:");
    for l in p["lifecycles"].as_array().into_iter().flatten() {
        let phases: Vec<String> = l["phases"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|ph| cell(&ph["environments"]))
            .collect();
        let rule = if l["rule"].is_null() {
            "default".to_string()
        } else {
            format!("when {}", l["rule"])
        };
        println!(
            "  {:<10} {}  ({rule})",
            cell(&l["name"]),
            phases.join(" → ")
        );
    }
}

#[derive(Subcommand)]
pub enum VariableCommand {
    /// List a project's variables; sensitive values are never shown.
    #[command(after_help = "Example:\n  slipway variable list --project pets")]
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Set a value; sensitive values are read from standard input and encrypted at rest.
    #[command(
        after_help = "Examples:\n  slipway variable set --project pets --name LOG_LEVEL --env DEV --value debug\n  printf '%s' \"$DB_PASS\" | slipway variable set --project pets --name DB_PASSWORD --env PROD-EU --sensitive"
    )]
    Set {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        /// Only in this environment (all environments when absent).
        #[arg(long = "env")]
        environment: Option<String>,
        /// Only on targets holding this role.
        #[arg(long)]
        role: Option<String>,
        /// The value (plain variables). Sensitive values come from standard input instead.
        #[arg(long, conflicts_with = "sensitive")]
        value: Option<String>,
        /// Encrypt the value and never show it again; it is read from standard input.
        #[arg(long)]
        sensitive: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a value set with `variable set`.
    #[command(
        after_help = "Example:\n  slipway variable unset --project pets --name LOG_LEVEL --env DEV"
    )]
    Unset {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn variable(command: VariableCommand) -> Result<(), Failure> {
    match command {
        VariableCommand::List { project, remote } => {
            let vars = remote
                .client()
                .get(&format!("/api/v1/projects/{}/variables", encode(&project)))?;
            show(&remote, &vars, |v| {
                let rows: Vec<Vec<String>> = items(v)
                    .iter()
                    .map(|x| {
                        let value = if x["sensitive"] == true {
                            if x["has_value"] == true {
                                "****** (set)".into()
                            } else {
                                "(not set)".into()
                            }
                        } else {
                            cell(&x["value"])
                        };
                        vec![
                            cell(&x["name"]),
                            cell(&x["environment"]),
                            cell(&x["role"]),
                            value,
                            cell(&x["source"]),
                        ]
                    })
                    .collect();
                table(&["NAME", "ENVIRONMENT", "ROLE", "VALUE", "SOURCE"], &rows);
            });
        }
        VariableCommand::Set {
            project,
            name,
            environment,
            role,
            value,
            sensitive,
            remote,
        } => {
            let value = match (value, sensitive) {
                (Some(v), false) => v,
                (None, true) => stdin_secret("value")?,
                _ => return Err(Failure::new(Exit::Invalid, "error: give --value for a plain variable, or --sensitive and the value on standard input")),
            };
            let body = json!({ "value": value, "sensitive": sensitive, "environment": environment, "role": role });
            remote.client().put(
                &format!(
                    "/api/v1/projects/{}/variables/{}",
                    encode(&project),
                    encode(&name)
                ),
                &body,
            )?;
            show(&remote, &json!({ "set": name }), |_| {
                println!(
                    "set {name}{}",
                    if sensitive {
                        " (sensitive, encrypted)"
                    } else {
                        ""
                    }
                )
            });
        }
        VariableCommand::Unset {
            project,
            name,
            environment,
            role,
            remote,
        } => {
            let mut query = Vec::new();
            if let Some(e) = environment {
                query.push(format!("environment={}", encode(&e)));
            }
            if let Some(r) = role {
                query.push(format!("role={}", encode(&r)));
            }
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            remote.client().delete(&format!(
                "/api/v1/projects/{}/variables/{}{q}",
                encode(&project),
                encode(&name)
            ))?;
            show(&remote, &json!({ "unset": name }), |_| {
                println!("unset {name}")
            });
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum TargetCommand {
    /// List targets.
    #[command(after_help = "Example:\n  slipway target list")]
    List(RemoteArgs),
    /// Create a single-use token an agent enrols with, placing it in an environment with roles.
    #[command(
        after_help = "Example:\n  slipway target enrollment-token --env DEV --role app --role batch"
    )]
    EnrollmentToken {
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Hours before the token expires.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke an agent: its credential stops working at once.
    #[command(after_help = "Example:\n  slipway target revoke dev-01")]
    Revoke {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Register a placeholder target until its agent enrols.
    #[command(
        after_help = "Example:\n  slipway target register app-01 --env DEV --role app --role batch"
    )]
    Register {
        name: String,
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn target(command: TargetCommand) -> Result<(), Failure> {
    match command {
        TargetCommand::List(RemoteArgs { remote }) => {
            let targets = remote.client().get("/api/v1/targets")?;
            show(&remote, &targets, |t| {
                table(
                    &["NAME", "ENVIRONMENT", "ROLES", "LIVENESS", "LAST SEEN"],
                    &rows(
                        t,
                        &["name", "environment", "roles", "liveness", "last_seen_at"],
                    ),
                )
            });
        }
        TargetCommand::Register {
            name,
            environment,
            roles,
            remote,
        } => {
            let t = remote.client().post(
                "/api/v1/targets",
                &json!({ "name": name, "environment": environment, "roles": roles }),
            )?;
            show(&remote, &t, |t| {
                println!(
                    "registered target {} ({})",
                    cell(&t["name"]),
                    cell(&t["status"])
                )
            });
        }
        TargetCommand::EnrollmentToken {
            environment,
            roles,
            ttl_hours,
            remote,
        } => {
            let body =
                json!({ "environment": environment, "roles": roles, "ttl_hours": ttl_hours });
            let created = remote
                .client()
                .post("/api/v1/targets/enrollment-tokens", &body)?;
            show(&remote, &created, |c| {
                println!("{}", cell(&c["token"]));
                println!(
                    "(single use, expires {}; start the agent with --enroll-token)",
                    cell(&c["expires_at"])
                );
                if let Some(fingerprint) = c["server_fingerprint"].as_str() {
                    println!("(the server speaks TLS: add --server-fingerprint {fingerprint})");
                }
            });
        }
        TargetCommand::Revoke { name, remote } => {
            remote.client().post(
                &format!("/api/v1/targets/{}/revoke", encode(&name)),
                &json!({}),
            )?;
            show(&remote, &json!({ "revoked": name }), |_| {
                println!("revoked target {name}")
            });
        }
    }
    Ok(())
}
