//! An agent's life: check the URL, read or make its identity (enrolment), then heartbeats on a
//! thread of their own beside the work loop. It never runs actions itself (`work` does).

use std::path::Path;
use std::time::Duration;

use slipway_protocol::{EnrollRequest, EnrollResponse, Heartbeat, HeartbeatResponse};

use crate::args::AgentArgs;
use crate::error::{AgentError, Stop};
use crate::host::facts;
use crate::identity::{pin_for, read_identity, write_identity, Identity};
use crate::link::{check_server_url, CallError, Link};
use crate::work;

/// Run the agent until the server no longer accepts it. `stop` ends the process when a thread
/// beside the caller's meets an error the agent cannot go on from (a revoked credential seen by
/// the heartbeat, a certificate other than the pinned one).
pub fn run(args: AgentArgs, stop: Stop) -> Result<(), AgentError> {
    check_server_url(&args.server, args.insecure_http)?;
    std::fs::create_dir_all(&args.data).map_err(|e| {
        AgentError::Io(format!("error: cannot create {}: {e}", args.data.display()))
    })?;
    let identity_path = args.data.join("agent.json");
    let stored = read_identity(&identity_path, &args.name)?;
    let pin = pin_for(
        &args.server,
        &identity_path,
        stored.as_ref(),
        args.server_fingerprint,
    )?;
    let mut link = Link::new(&args.server, pin, stop);
    let identity = match stored {
        Some(identity) => identity,
        None => enroll(&link, &args, &identity_path)?,
    };
    link.stop_if_untrusted = true;
    match identity.server_fingerprint {
        Some(pin) => println!(
            "agent {} calling {} every few seconds (TLS, certificate {pin})",
            identity.name, link.server
        ),
        None => println!(
            "agent {} calling {} every few seconds",
            identity.name, link.server
        ),
    }
    // Heartbeats go on beside the work, so a long step never makes the target look offline.
    let beat = {
        let link = link.clone();
        let identity = identity.clone();
        let data = args.data.clone();
        std::thread::spawn(move || {
            if let Err(stopped) = heartbeat_loop(&link, &identity, &data) {
                stop(stopped);
            }
        })
    };
    let _ = beat;
    // Health probes run beside the work too, so a deployment never pauses the measurements.
    {
        let link = link.clone();
        let credential = identity.credential.clone();
        std::thread::spawn(move || crate::probes::probe_loop(&link, &credential));
    }
    // Batch logs are followed beside the work too: an error line alerts during a deployment.
    {
        let link = link.clone();
        let credential = identity.credential.clone();
        let data = args.data.clone();
        std::thread::spawn(move || crate::logwatch::log_loop(&link, &credential, &data));
    }
    // Installed batches run on their schedules beside the work, whatever a deployment does.
    {
        let link = link.clone();
        let credential = identity.credential.clone();
        let data = args.data.clone();
        std::thread::spawn(move || crate::scheduler::schedule_loop(&link, &credential, &data));
    }
    // The jobs Slipway did not install are looked for beside the work too.
    {
        let link = link.clone();
        let credential = identity.credential.clone();
        std::thread::spawn(move || crate::discovery::discovery_loop(&link, &credential));
    }
    work::work_loop(&link, &identity.credential, &args.data).map_err(|detail| {
        AgentError::NotAccepted(format!("error: the server no longer accepts this agent: {detail}\n  hint: it was revoked; enrol it again with a new token and a fresh --data folder"))
    })
}

fn enroll(link: &Link, args: &AgentArgs, identity_path: &Path) -> Result<Identity, AgentError> {
    let token = args.enroll_token.clone().ok_or_else(|| AgentError::Invalid("error: this agent is not enrolled yet\n  hint: pass --enroll-token from `slipway target enrollment-token --env ENV --role ROLE`".into()))?;
    let request = EnrollRequest {
        token,
        name: args.name.clone(),
        facts: facts(&args.data),
    };
    let response: EnrollResponse = match link.post("/api/v1/agent/enroll", None, &request) {
        Ok(r) => r,
        Err(CallError::Refused(code, detail)) => {
            let message = format!("error: enrolment refused: {detail}");
            return Err(if code == 409 {
                AgentError::Conflict(message)
            } else {
                AgentError::NotAccepted(message)
            });
        }
        Err(CallError::Unreachable(e)) => {
            return Err(link.untrusted().unwrap_or_else(|| {
                AgentError::Unreachable(format!("error: cannot reach {}: {e}", link.server))
            }))
        }
    };
    let identity = Identity {
        name: response.name,
        server: link.server.clone(),
        credential: response.credential,
        server_fingerprint: link.pin.as_ref().and_then(|p| p.pin()),
    };
    write_identity(identity_path, &identity)?;
    println!(
        "enrolled as {} in {} with roles [{}]",
        identity.name,
        response.environment.as_deref().unwrap_or("no environment"),
        response.roles.join(", ")
    );
    Ok(identity)
}

fn heartbeat_loop(link: &Link, identity: &Identity, data: &Path) -> Result<(), AgentError> {
    let mut period = Duration::from_secs(10);
    let mut backoff = Duration::from_secs(1);
    loop {
        match link.post::<_, HeartbeatResponse>(
            "/api/v1/agent/heartbeat",
            Some(&identity.credential),
            &Heartbeat { facts: facts(data) },
        ) {
            Ok(answer) => {
                period = Duration::from_secs(answer.heartbeat_secs.clamp(1, 300));
                backoff = Duration::from_secs(1);
                std::thread::sleep(period);
            }
            Err(CallError::Refused(401, detail)) => {
                return Err(AgentError::NotAccepted(format!("error: the server no longer accepts this agent: {detail}\n  hint: it was revoked; enrol it again with a new token and a fresh --data folder")));
            }
            Err(CallError::Refused(code, detail)) => {
                eprintln!(
                    "heartbeat refused (HTTP {code}): {detail}; retrying in {}s",
                    period.as_secs()
                );
                std::thread::sleep(period);
            }
            Err(CallError::Unreachable(e)) => {
                eprintln!(
                    "server unreachable ({e}); retrying in {}s",
                    backoff.as_secs()
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
