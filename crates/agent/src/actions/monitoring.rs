//! `monitoring.silence` and `monitoring.restore`: an Alertmanager silence for the length of a
//! deployment, remembered in the data folder so the restoring step lifts exactly it. It never
//! touches anything on the host but that memory file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_protocol::Assignment;

use crate::outcome::{fail, ok, Outcome};
use crate::sink::LogSink;

/// Where a deployment's silence is remembered, so the step that restores monitoring (or the undo
/// of the silence) lifts exactly it.
fn silence_file(data: &Path, deployment: i64) -> PathBuf {
    data.join("monitoring")
        .join(format!("silence-{deployment}.json"))
}

/// Silence alerts through an Alertmanager-compatible API (`POST /api/v2/silences`) for the
/// duration of the deployment.
pub(super) fn silence(
    p: &slipway_core::plan::SilenceParams,
    data: &Path,
    task: &Assignment,
    check: bool,
    log: &mut LogSink,
) -> Outcome {
    let Some(url) = p
        .alertmanager_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'))
    else {
        log.line("no alertmanager_url given: nothing to silence");
        return ok("monitoring left as it is (no alertmanager_url)");
    };
    if p.matchers.is_empty() {
        return fail("a silence needs at least one matcher, e.g. matchers: { service: pets }");
    }
    if check {
        return ok(format!(
            "would silence {} matcher(s) at {url} for {} min",
            p.matchers.len(),
            p.duration_minutes
        ));
    }
    let now = jiff::Timestamp::now();
    let ends = now + jiff::SignedDuration::from_mins(i64::from(p.duration_minutes));
    let body = serde_json::json!({
        "matchers": p.matchers.iter().map(|(k, v)| serde_json::json!({ "name": k, "value": v, "isRegex": false, "isEqual": true })).collect::<Vec<_>>(),
        "startsAt": now.to_string(),
        "endsAt": ends.to_string(),
        "createdBy": "slipway",
        "comment": format!("deployment {} of {} {} to {}", task.deployment_id, task.project, task.release, task.environment),
    });
    let answer = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .post(&format!("{url}/api/v2/silences"))
        .send_json(body);
    let id = match answer.map(|r| r.into_json::<serde_json::Value>()) {
        Ok(Ok(v)) => match v["silenceID"].as_str() {
            Some(id) => id.to_string(),
            None => return fail(format!("{url} answered without a silenceID")),
        },
        Ok(Err(e)) => return fail(format!("{url} answered something unreadable: {e}")),
        Err(e) => return fail(format!("cannot silence alerts at {url}: {e}")),
    };
    let file = silence_file(data, task.deployment_id);
    let kept = std::fs::create_dir_all(file.parent().unwrap_or(data)).and_then(|_| {
        std::fs::write(
            &file,
            serde_json::json!({ "url": url, "id": id }).to_string(),
        )
    });
    if let Err(e) = kept {
        return fail(format!(
            "silence {id} created but not remembered ({e}); lift it by hand at {url}"
        ));
    }
    log.line(format!("silence {id} at {url} until {ends}"));
    ok(format!("alerts silenced at {url} ({id})"))
}

/// Lift the silence this deployment (or the one being undone) set, if any.
pub(super) fn lift_silence(
    data: &Path,
    task: &Assignment,
    check: bool,
    log: &mut LogSink,
) -> Outcome {
    let file = silence_file(data, task.undoes_deployment.unwrap_or(task.deployment_id));
    let Some(kept) = std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return ok("no silence set by this deployment: monitoring already on");
    };
    let (url, id) = (
        kept["url"].as_str().unwrap_or(""),
        kept["id"].as_str().unwrap_or(""),
    );
    if check {
        return ok(format!("would lift silence {id} at {url}"));
    }
    let answer = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .delete(&format!("{url}/api/v2/silence/{id}"))
        .call();
    match answer {
        Ok(_) | Err(ureq::Error::Status(404, _)) => {
            let _ = std::fs::remove_file(&file);
            log.line(format!("silence {id} lifted at {url}"));
            ok(format!("monitoring restored at {url}"))
        }
        Err(e) => fail(format!("cannot lift silence {id} at {url}: {e}")),
    }
}
