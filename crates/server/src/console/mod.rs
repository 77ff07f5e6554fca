//! The web console: server-rendered pages over the same services the API calls.
//!
//! Pages never reach the store and never decide a rule: they call [`crate::services`], render
//! the result with askama (which escapes every value), and show a refusal with its hint. Every
//! form post carries the session's CSRF token ([`session::SignedForm`]).

// Handlers answer with a page on both paths (the one asked for, or an error page or redirect);
// a `Response` in `Err` is moved once per request, which costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod account;
mod alerts;
mod assets;
mod audit;
mod batches;
mod charts;
mod complaints;
mod config_changes;
mod criteria;
mod dashboard;
mod deployment_list;
mod deployments;
mod flag_edit;
mod flags;
mod governance;
mod health;
mod insights;
mod insights_pages;
mod inventory;
mod notice;
mod page;
mod parity;
mod people;
mod projects;
mod quality;
mod releases;
mod saved_dashboards;
mod session;
mod user;
mod variables;
mod verification;
mod webhooks;

use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(deliver())
        .merge(govern())
        .merge(supervise())
        .merge(people())
        .layer(middleware::from_fn(notice::clear_shown_notice))
        .layer(middleware::map_response(protect))
        .route("/assets/console.css", get(assets::css))
        .route("/assets/console.js", get(assets::js))
}

/// The dashboard, projects, releases and their quality, artifacts, deployments, insights, dashboards and flags: the Deliver menu.
fn deliver() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::home))
        .route("/projects", get(projects::list))
        .route("/projects/{name}", get(projects::show))
        .route(
            "/projects/{name}/variables",
            get(variables::list).post(variables::set),
        )
        .route("/flags", get(flags::list).post(flags::create))
        .route(
            "/flags/{project}/{flag}/{environment}",
            get(flag_edit::show).post(flag_edit::save),
        )
        .route(
            "/flags/{project}/{flag}/{environment}/toggle",
            post(flags::switch),
        )
        .route("/insights", get(insights::show))
        .route("/insights/data", get(insights::data))
        .route("/insights/deployments", get(insights_pages::deployments))
        .route("/insights/commits", get(insights_pages::commits))
        .route(
            "/dashboards",
            get(saved_dashboards::list).post(saved_dashboards::save),
        )
        .route("/dashboards/{id}", get(saved_dashboards::show))
        .route("/dashboards/{id}/data", get(saved_dashboards::data))
        .route("/dashboards/{id}/delete", post(saved_dashboards::delete))
        .route("/releases", get(releases::home))
        .route("/projects/{name}/parity", get(parity::show))
        .route("/projects/{name}/releases", get(releases::list))
        .route("/projects/{name}/releases/{version}", get(releases::show))
        .route(
            "/projects/{name}/releases/{version}/quality",
            get(quality::show),
        )
        .route(
            "/projects/{name}/releases/{version}/quality/runs/{id}",
            get(quality::run),
        )
        .route(
            "/projects/{name}/releases/{version}/quality/findings/{id}/accept",
            post(quality::accept_risk),
        )
        .route(
            "/projects/{name}/releases/{version}/quality/acceptances/{id}/approve",
            post(quality::approve_risk),
        )
        .route("/artifacts", get(releases::search))
        .route("/deployments", get(deployment_list::list))
        .route("/deployments/{id}", get(deployments::show))
        .route("/deployments/{id}/live", get(deployments::live))
        .route("/deployments/{id}/decision", post(deployments::decide))
        .route(
            "/deployments/{id}/intervention",
            post(deployments::intervene),
        )
        .route(
            "/deployments/{id}/rollback",
            post(deployments::roll_back_environment),
        )
        .route("/projects/{name}/deployments", post(deployments::create))
}

/// Promotions and their votes, change requests, configuration changes, the audit log: the Govern menu.
fn govern() -> Router<AppState> {
    Router::new()
        .route("/approvals", get(governance::approvals))
        .route("/calendar", get(governance::calendar))
        .route("/promotions/{id}", get(governance::show))
        .route("/promotions/{id}/approve", post(governance::approve))
        .route("/promotions/{id}/reject", post(governance::reject))
        .route("/promotions/{id}/cancel", post(governance::cancel))
        .route(
            "/promotions/{id}/override",
            post(governance::override_decision),
        )
        .route(
            "/change-requests/{id}/approve",
            post(governance::approve_change_request),
        )
        .route(
            "/change-requests/{id}/reject",
            post(governance::reject_change_request),
        )
        .route(
            "/projects/{name}/releases/{version}/promote",
            post(releases::promote),
        )
        .route(
            "/projects/{name}/releases/{version}/like",
            post(releases::like),
        )
        .route("/audit", get(audit::log))
        .route("/config-changes", get(config_changes::list))
        .route(
            "/config-changes/{id}/approve",
            post(config_changes::approve),
        )
        .route("/config-changes/{id}/reject", post(config_changes::reject))
}

/// Environments, targets, health, batches, complaints and alerts: the Supervise menu.
fn supervise() -> Router<AppState> {
    Router::new()
        .route("/environments", get(inventory::environments))
        .route("/targets", get(inventory::targets))
        .route("/batches", get(batches::list))
        .route("/batches/{environment}/{name}", get(batches::show))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::show))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/health", get(health::show))
        .route("/complaints", get(complaints::list))
        .route("/complaints/export", get(complaints::export))
        .route("/complaints/{project}", post(complaints::add))
        .route(
            "/complaints/{project}/import",
            // A 2 MiB file (the import's own limit) grows when a form encodes it.
            post(complaints::import).layer(axum::extract::DefaultBodyLimit::max(8 << 20)),
        )
        .route("/complaints/{project}/{id}", get(complaints::show))
        .route(
            "/complaints/{project}/{id}/status",
            post(complaints::change_status),
        )
        .route("/complaints/{project}/{id}/links", post(complaints::link))
}

/// Signing in and out, one's account, users and tokens, webhooks: the Administer menu and the session.
fn people() -> Router<AppState> {
    Router::new()
        .route("/login", get(session::login_form).post(session::login))
        .route("/login/oidc", get(session::oidc_start))
        .route("/login/oidc/callback", get(session::oidc_callback))
        .route("/login/oidc/again", get(session::oidc_again))
        .route("/login/cli/{id}", get(session::cli_sign_in))
        .route("/login/oidc/cli/{id}", get(session::oidc_for_cli))
        .route("/logout", post(session::logout))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/users", get(people::list).post(people::create_user))
        .route("/users/tokens", post(people::create_token))
        .route("/users/tokens/{id}/revoke", post(people::revoke_token))
        .route("/webhooks", get(webhooks::list))
}

/// Pages may show a secret once (a new token, a generated password): nothing may keep a copy,
/// frame the page, or load anything from elsewhere. Scripts may fetch from the console itself
/// only (a deployment page polls its live state).
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
