//! The Unleash client API, served so that applications keep their Unleash SDKs: the flags of a
//! token's project and environment in the SDKs' format (with an ETag, so an unchanged answer is
//! a 304), SDK registration and evaluation counts (telemetry, bounded), and the frontend API,
//! which evaluates flags here with `core::flags` for a context given by the caller.
//!
//! Tokens are environment-scoped (`slipway flag token create --project P --env E`): a client
//! token reads `/api/client/*`, a frontend token `/api/frontend`, nothing else.

use std::collections::BTreeMap;

use slipway_api::flags::{
    ClientConstraint, ClientFeature, ClientFeatures, ClientMetrics, ClientQuery,
    ClientRegistration, ClientStrategy, ClientVariant, FrontendToggle, FrontendToggles,
    FrontendVariant, VariantPayload,
};
use slipway_core::flags::{evaluate, Context, FlagState, Rule, Strategy, TokenKind, Variant};
use slipway_store::StoredFlagToken;

use crate::{AppState, ServiceError};

/// The most flags one metrics report may count, and the longest application name or instance
/// id kept: an SDK sends a handful; more is a client to refuse, not rows to store.
pub const MAX_METRIC_FLAGS: usize = 10_000;
const MAX_LABEL: usize = 200;

/// The token of an `Authorization` header, if it is a live token of the `kind` asked for.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    kind: TokenKind,
) -> Result<StoredFlagToken, ServiceError> {
    let secret = authorization
        .map(|h| h.trim())
        .map(|h| h.strip_prefix("Bearer ").unwrap_or(h).trim())
        .filter(|h| !h.is_empty() && h.len() <= 512)
        .ok_or(ServiceError::FlagTokenUnknown)?;
    let token = state
        .store
        .flag_token_by_hash(&crate::auth::secret_hash(secret))
        .await?
        .ok_or(ServiceError::FlagTokenUnknown)?;
    if token.kind != kind {
        let (path, wanted) = match kind {
            TokenKind::Client => ("/api/client/*", "client"),
            TokenKind::Frontend => ("/api/frontend", "frontend"),
        };
        return Err(ServiceError::Refused {
            message: format!(
                "a {} token may not read {path}; it needs a {wanted} token",
                token.kind
            ),
            hint: format!(
                "create one: `slipway flag token create --project {} --env {} --kind {wanted}`",
                token.project, token.environment
            ),
        });
    }
    Ok(token)
}

pub use crate::flag_answers::FeaturesAnswer;

/// The flags of the token's project and environment in the Unleash format. A `project` filter
/// (the SDK's `projectName`) other than the token's is refused: the token is scoped to one.
pub async fn client_features(
    state: &AppState,
    token: &StoredFlagToken,
    project: Option<&str>,
) -> Result<FeaturesAnswer, ServiceError> {
    if let Some(asked) = project.filter(|p| *p != token.project && *p != "default") {
        return Err(ServiceError::Refused {
            message: format!(
                "this token reads the flags of project {}, not {asked}",
                token.project
            ),
            hint: format!(
                "create a token of {asked}: `slipway flag token create --project {asked} --env {}`",
                token.environment
            ),
        });
    }
    let key = (token.project.clone(), token.environment.clone());
    let revision = state
        .store
        .flags_revision(&token.project, &token.environment)
        .await?;
    let kept = state
        .flag_answers
        .lock()
        .expect("the answer cache is never left poisoned")
        .get(&key, &revision);
    if let Some(answer) = kept {
        return Ok(answer);
    }
    let answer = build_features(state, token).await?;
    state
        .flag_answers
        .lock()
        .expect("the answer cache is never left poisoned")
        .keep(key, revision, answer.clone());
    Ok(answer)
}

async fn build_features(
    state: &AppState,
    token: &StoredFlagToken,
) -> Result<FeaturesAnswer, ServiceError> {
    let now = slipway_store::current_time();
    let rows = state
        .store
        .flags_in(&token.project, &token.environment)
        .await?;
    let features = rows
        .into_iter()
        .map(|(flag, st)| {
            let st = st.unwrap_or_default();
            ClientFeature {
                stale: flag.kind.is_stale(flag.created_at, now),
                strategies: client_strategies(&flag.name, &st),
                variants: st.variants.iter().map(client_variant).collect(),
                enabled: st.enabled,
                name: flag.name,
                kind: flag.kind,
                description: flag.description,
                impression_data: false,
                project: flag.project,
            }
        })
        .collect();
    let answer = ClientFeatures {
        version: 2,
        features,
        query: ClientQuery {
            project: vec![token.project.clone()],
            environment: token.environment.clone(),
        },
    };
    let body = serde_json::to_vec(&answer).expect("the features serialise");
    let digest = slipway_core::Sha256::of(&body).to_hex();
    Ok(FeaturesAnswer {
        etag: format!("\"{}\"", &digest[..32]),
        body: std::sync::Arc::new(body),
    })
}

/// A state's strategies as the SDKs read them; none is Unleash's `default` (on for everyone).
fn client_strategies(flag: &str, state: &FlagState) -> Vec<ClientStrategy> {
    if state.strategies.is_empty() {
        return vec![ClientStrategy {
            name: "default".into(),
            parameters: BTreeMap::new(),
            constraints: Vec::new(),
        }];
    }
    state
        .strategies
        .iter()
        .map(|s| client_strategy(flag, s))
        .collect()
}

fn client_strategy(flag: &str, s: &Strategy) -> ClientStrategy {
    let mut parameters = BTreeMap::new();
    match &s.rule {
        Rule::Default => {}
        Rule::UserWithId { user_ids } => {
            parameters.insert("userIds".into(), user_ids.join(","));
        }
        Rule::FlexibleRollout {
            rollout,
            stickiness,
            group_id,
        } => {
            parameters.insert("rollout".into(), rollout.to_string());
            parameters.insert("stickiness".into(), stickiness.clone());
            parameters.insert(
                "groupId".into(),
                group_id.clone().unwrap_or_else(|| flag.to_string()),
            );
        }
    }
    ClientStrategy {
        name: s.rule.unleash_name().into(),
        parameters,
        constraints: s
            .constraints
            .iter()
            .map(|c| ClientConstraint {
                context_name: c.context.clone(),
                operator: c.operator.as_str().into(),
                values: c.values.clone(),
                value: c
                    .operator
                    .single_value()
                    .then(|| c.values.first().cloned())
                    .flatten(),
                inverted: c.inverted,
                case_insensitive: c.case_insensitive,
            })
            .collect(),
    }
}

fn client_variant(v: &Variant) -> ClientVariant {
    ClientVariant {
        name: v.name.clone(),
        weight: v.weight,
        weight_type: "variable".into(),
        stickiness: v.stickiness.clone(),
        payload: v.payload.as_ref().map(|(kind, value)| VariantPayload {
            kind: kind.clone(),
            value: value.clone(),
        }),
    }
}

fn label(what: &str, value: &str) -> Result<(), ServiceError> {
    if value.trim().is_empty() || value.len() > MAX_LABEL {
        return Err(ServiceError::invalid(
            format!("{what} must be 1 to {MAX_LABEL} characters"),
            "the Unleash SDK sends its app_name; give the client one",
        ));
    }
    Ok(())
}

/// Remember an SDK instance that announced itself.
pub async fn register(
    state: &AppState,
    token: &StoredFlagToken,
    registration: &ClientRegistration,
) -> Result<(), ServiceError> {
    label("appName", &registration.app_name)?;
    let instance: String = registration.instance_id.chars().take(MAX_LABEL).collect();
    let sdk: String = registration.sdk_version.chars().take(MAX_LABEL).collect();
    state
        .store
        .record_flag_client(
            &token.project,
            &token.environment,
            &registration.app_name,
            &instance,
            &sdk,
        )
        .await?;
    Ok(())
}

/// Add an SDK's evaluation counts to each flag's totals; names that are not flags of the
/// token's project are dropped (they would only grow the table).
pub async fn metrics(
    state: &AppState,
    token: &StoredFlagToken,
    metrics: &ClientMetrics,
) -> Result<(), ServiceError> {
    label("appName", &metrics.app_name)?;
    let toggles = &metrics.bucket.toggles;
    if toggles.len() > MAX_METRIC_FLAGS {
        return Err(ServiceError::invalid(
            format!(
                "the report counts {} flags; at most {MAX_METRIC_FLAGS} are accepted",
                toggles.len()
            ),
            "send the counts of the flags the application evaluates",
        ));
    }
    if let Some((name, _)) = toggles.iter().find(|(_, c)| c.yes < 0 || c.no < 0) {
        return Err(ServiceError::invalid(
            format!("the counts of {name} are negative"),
            "yes and no count evaluations: 0 or more",
        ));
    }
    let known: std::collections::BTreeSet<String> = state
        .store
        .flags(Some(&token.project))
        .await?
        .into_iter()
        .map(|f| f.name)
        .collect();
    let counts: Vec<(String, i64, i64)> = toggles
        .iter()
        .filter(|(name, _)| known.contains(*name))
        .map(|(name, c)| (name.clone(), c.yes, c.no))
        .collect();
    if !counts.is_empty() {
        state
            .store
            .record_flag_usage(
                &token.project,
                &token.environment,
                &metrics.app_name,
                &counts,
            )
            .await?;
    }
    Ok(())
}

/// The context of a frontend request from its query parameters: the Unleash fields by name,
/// `properties[x]=y` (or any other name) as properties.
pub fn context_from_query(pairs: &[(String, String)]) -> Result<Context, ServiceError> {
    let mut context = Context {
        random: random_u32(),
        ..Default::default()
    };
    for (key, value) in pairs.iter().take(100) {
        let value = value.clone();
        match key.as_str() {
            "userId" => context.user_id = Some(value),
            "sessionId" => context.session_id = Some(value),
            "remoteAddress" => context.remote_address = Some(value),
            "environment" => context.environment = Some(value),
            "appName" => context.app_name = Some(value),
            "currentTime" => {
                context.current_time = Some(value.parse().map_err(|_| {
                    ServiceError::invalid(
                        format!("currentTime `{value}` is not an RFC 3339 time"),
                        "e.g. currentTime=2026-12-01T10:00:00Z, or leave it out for now",
                    )
                })?)
            }
            other => {
                let name = other
                    .strip_prefix("properties[")
                    .and_then(|k| k.strip_suffix(']'))
                    .unwrap_or(other);
                context.properties.insert(name.to_string(), value);
            }
        }
    }
    if context.current_time.is_none() {
        context.current_time = Some(slipway_store::current_time());
    }
    Ok(context)
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    getrandom::getrandom(&mut bytes).expect("the operating system provides randomness");
    u32::from_le_bytes(bytes)
}

/// The flags of the token's project with their states in its environment, kept per store
/// revision as the client answer is (`flag_answers`): one small query per request while
/// nothing changes, instead of reading and parsing every state.
async fn frontend_flags(
    state: &AppState,
    token: &StoredFlagToken,
) -> Result<crate::flag_answers::FrontendFlags, ServiceError> {
    let key = (token.project.clone(), token.environment.clone());
    let revision = state
        .store
        .flags_revision(&token.project, &token.environment)
        .await?;
    let kept = state
        .flag_answers
        .lock()
        .expect("the answer cache is never left poisoned")
        .frontend(&key, &revision);
    if let Some(flags) = kept {
        return Ok(flags);
    }
    let flags: crate::flag_answers::FrontendFlags = std::sync::Arc::new(
        state
            .store
            .flags_in(&token.project, &token.environment)
            .await?
            .into_iter()
            .map(|(flag, st)| (flag.name, st))
            .collect(),
    );
    state
        .flag_answers
        .lock()
        .expect("the answer cache is never left poisoned")
        .keep_frontend(key, revision, std::sync::Arc::clone(&flags));
    Ok(flags)
}

/// The flags that are on for `context` in the token's environment, evaluated here.
pub async fn frontend(
    state: &AppState,
    token: &StoredFlagToken,
    context: &Context,
) -> Result<FrontendToggles, ServiceError> {
    let flags = frontend_flags(state, token).await?;
    let toggles = flags
        .iter()
        .filter_map(|(name, st)| {
            let st = st.as_ref()?;
            let answer = evaluate(name, st, context);
            answer.enabled.then(|| FrontendToggle {
                variant: match answer.variant {
                    Some(v) => FrontendVariant {
                        name: v.name.clone(),
                        enabled: true,
                        payload: v.payload.as_ref().map(|(kind, value)| VariantPayload {
                            kind: kind.clone(),
                            value: value.clone(),
                        }),
                        feature_enabled: true,
                    },
                    None => FrontendVariant {
                        name: "disabled".into(),
                        enabled: false,
                        payload: None,
                        feature_enabled: true,
                    },
                },
                name: name.clone(),
                enabled: true,
                impression_data: false,
            })
        })
        .collect();
    Ok(FrontendToggles { toggles })
}
