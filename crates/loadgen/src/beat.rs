//! What a real agent does beside its work, for many simulated agents on a few threads: a
//! heartbeat every period the server gave at enrolment, and the lists it follows (health
//! probes, installed batches — asked twice, by the log follower and by the scheduler) at the
//! refresh the server answers. It never leases or runs tasks (`agent` does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_protocol::batches::AgentBatches;
use slipway_protocol::{AgentProbes, Heartbeat, HeartbeatResponse};

use crate::agent::{facts, SimAgent};
use crate::http::Call;
use crate::stats::CallKind;
use crate::Shared;

/// One agent's next calls.
struct Due {
    agent: Arc<SimAgent>,
    heartbeat: Instant,
    probes: Instant,
    /// The log follower's and the scheduler's lists, each on its own refresh.
    batches: [Instant; 2],
}

/// Keep `agents` calling in until the run stops; spread over time so that they do not all
/// call in the same millisecond.
pub(crate) fn beat_loop(agents: Vec<Arc<SimAgent>>, shared: &Shared) {
    let now = Instant::now();
    let count = agents.len().max(1) as u32;
    let mut due: Vec<Due> = agents
        .into_iter()
        .enumerate()
        .map(|(i, agent)| {
            let offset = Duration::from_secs(agent.heartbeat_secs) * i as u32 / count;
            Due {
                agent,
                heartbeat: now + offset,
                probes: now + offset,
                batches: [now + offset; 2],
            }
        })
        .collect();
    while !shared.stopping() {
        let now = Instant::now();
        for d in due.iter_mut() {
            if shared.stopping() {
                return;
            }
            call_in(d, shared, now);
        }
        let next = due
            .iter()
            .flat_map(|d| [d.heartbeat, d.probes, d.batches[0], d.batches[1]])
            .min()
            .unwrap_or(now + Duration::from_secs(1));
        shared.sleep(
            next.saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1)),
        );
    }
}

fn call_in(d: &mut Due, shared: &Shared, now: Instant) {
    let stats = &shared.stats;
    let client = &d.agent.client;
    if now >= d.heartbeat {
        let beat = Heartbeat {
            facts: facts(&d.agent.name),
        };
        let answer: Result<HeartbeatResponse, _> = client.json(
            stats,
            Call::post(CallKind::Heartbeat, "/api/v1/agent/heartbeat"),
            Some(&beat),
        );
        let period = answer.map_or(d.agent.heartbeat_secs, |a| a.heartbeat_secs.clamp(1, 300));
        d.heartbeat = now + Duration::from_secs(period);
    }
    if now >= d.probes {
        let answer: Result<AgentProbes, _> = client.json(
            stats,
            Call::get(CallKind::Probes, "/api/v1/agent/probes"),
            None::<&()>,
        );
        let refresh = answer.map_or(10, |a| a.refresh_secs.clamp(5, 600));
        d.probes = now + Duration::from_secs(refresh);
    }
    for next in d.batches.iter_mut() {
        if now >= *next {
            let answer: Result<AgentBatches, _> = client.json(
                stats,
                Call::get(CallKind::Batches, "/api/v1/agent/batches"),
                None::<&()>,
            );
            let refresh = answer.map_or(10, |a| a.refresh_secs.clamp(1, 600));
            *next = now + Duration::from_secs(refresh);
        }
    }
}
