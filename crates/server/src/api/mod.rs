//! The REST API under `/api/v1`: thin handlers over [`crate::services`].
//!
//! Every route is listed in `openapi.json` beside this file; a test keeps the two in step.

mod agents;
mod alerts;
mod batches;
mod checkpoints;
mod cli_sign_ins;
mod complaints;
mod config_changes;
mod coverage;
mod dashboards;
mod deployments;
mod evidence;
mod findings;
mod flags;
mod flakiness;
mod governance;
mod handlers;
mod health;
mod insights;
#[cfg(test)]
mod openapi_views;
mod paging;
mod quality;
mod sonar;
mod test_batteries;
mod vault;
mod webhooks;

use axum::routing::{delete, get, post, put};
use axum::Router;

use crate::AppState;

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    use handlers::*;
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/session", post(login).delete(logout))
        .route("/api/v1/environments", get(list_environments))
        .route(
            "/api/v1/environments/{name}",
            get(get_environment)
                .put(put_environment)
                .delete(delete_environment),
        )
        .route("/api/v1/projects", get(list_projects))
        .route(
            "/api/v1/projects/{name}",
            get(get_project).delete(delete_project),
        )
        .route(
            "/api/v1/projects/{name}/rollback-preview",
            get(rollback_preview),
        )
        .route("/api/v1/projects/{name}/variables", get(list_variables))
        .route(
            "/api/v1/projects/{name}/variables/{variable}",
            put(set_variable).delete(unset_variable),
        )
        .route("/api/v1/apply", post(apply))
        .route("/api/v1/validate", post(validate))
        .route("/api/v1/schema", get(schema))
        .route("/api/v1/targets", get(list_targets).post(register_target))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route(
            "/api/v1/users/{username}",
            axum::routing::patch(update_user),
        )
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/audit", get(list_audit))
        .route("/api/v1/audit/verify", get(verify_audit))
        .merge(agents::router())
        .merge(deployments::router())
        .merge(governance::router())
        .merge(evidence::router())
        .merge(vault::router())
        .merge(webhooks::router())
        .merge(checkpoints::router())
        .merge(quality::router())
        .merge(config_changes::router())
        .merge(batches::router())
        .merge(health::router())
        .merge(findings::router())
        .merge(flakiness::router())
        .merge(sonar::router())
        .merge(insights::router())
        .merge(dashboards::router())
        .merge(complaints::router())
        .merge(alerts::router())
        .merge(flags::router())
        .merge(test_batteries::router())
        .merge(cli_sign_ins::router())
        .route_layer(axum::middleware::from_fn(refuse_announced_oversize))
        // Artifacts stream into the vault whatever their size, outside the JSON limit.
        .merge(vault::upload_router())
        // Test reports stream too, within their own limit (SLIPWAY_MAX_TEST_REPORT_SIZE).
        .merge(quality::upload_router())
        // Scan reports stream too, within their own limit (SLIPWAY_MAX_SCAN_REPORT_SIZE).
        .merge(findings::upload_router())
        // Coverage reports stream too, within the test reports' limit.
        .merge(coverage::upload_router())
        // The JUnit files an agent's test battery wrote, within the test reports' limit.
        .merge(test_batteries::upload_router())
}

/// What axum's JSON extractor reads at most; every API body but an upload (artifact, test report) is JSON.
const JSON_BODY_LIMIT: u64 = 2 * 1024 * 1024;

/// A body announced over the limit is refused before a byte of it is read. Without this the
/// extractor reads up to the limit first, and a client still sending gets a broken pipe instead
/// of the answer.
async fn refuse_announced_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let announced = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match announced {
        Some(length) if length > JSON_BODY_LIMIT => crate::error::Problem::rejection(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body announces {length} bytes; this route accepts at most {JSON_BODY_LIMIT}"
            ),
        )
        .into_response(),
        _ => next.run(request).await,
    }
}

/// `(method, path)` of every API route, for the OpenAPI consistency test.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/whoami"),
    ("post", "/api/v1/session"),
    ("delete", "/api/v1/session"),
    ("get", "/api/v1/environments"),
    ("get", "/api/v1/environments/{name}"),
    ("put", "/api/v1/environments/{name}"),
    ("delete", "/api/v1/environments/{name}"),
    ("get", "/api/v1/projects"),
    ("get", "/api/v1/projects/{name}"),
    ("delete", "/api/v1/projects/{name}"),
    ("get", "/api/v1/projects/{name}/rollback-preview"),
    ("get", "/api/v1/projects/{name}/variables"),
    ("put", "/api/v1/projects/{name}/variables/{variable}"),
    ("delete", "/api/v1/projects/{name}/variables/{variable}"),
    ("post", "/api/v1/apply"),
    ("post", "/api/v1/validate"),
    ("get", "/api/v1/schema"),
    ("get", "/api/v1/targets"),
    ("post", "/api/v1/targets"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{username}"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/audit/verify"),
    // Outside /api but documented there: what Prometheus scrapes.
    ("get", "/metrics"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_every_route_and_only_those() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
            {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .chain(agents::ROUTES)
            .chain(deployments::ROUTES)
            .chain(governance::ROUTES)
            .chain(evidence::ROUTES)
            .chain(vault::ROUTES)
            .chain(webhooks::ROUTES)
            .chain(checkpoints::ROUTES)
            .chain(quality::ROUTES)
            .chain(flakiness::ROUTES)
            .chain(coverage::ROUTES)
            .chain(sonar::ROUTES)
            .chain(config_changes::ROUTES)
            .chain(batches::ROUTES)
            .chain(health::ROUTES)
            .chain(findings::ROUTES)
            .chain(insights::ROUTES)
            .chain(dashboards::ROUTES)
            .chain(complaints::ROUTES)
            .chain(alerts::ROUTES)
            .chain(flags::ROUTES)
            .chain(test_batteries::ROUTES)
            .chain(cli_sign_ins::ROUTES)
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
