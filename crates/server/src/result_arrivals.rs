//! Task results that arrive while another result's write is under way, queued so that the next
//! write takes all of them at once (group commit): on SQLite's one writer, the 20 results of a
//! 20-target step cost a few transactions instead of 20, and the decision after the last one
//! is taken once, in the same write.
//!
//! It only queues arrivals and takes turns; it never writes to the store, and never answers an
//! agent itself: the writer of a group (`services::tasks::results`) answers each arrival once
//! the write holding its result committed, or failed.

use std::sync::{Arc, Mutex};

use slipway_protocol::TaskResult;
use slipway_store::Target;
use tokio::sync::{oneshot, OwnedMutexGuard};

use crate::transitions::task_lease::Leased;
use crate::waiting_agents::Seated;
use crate::ServiceError;

/// One result as its request brought it, with what its write needs.
pub(crate) struct Arrival {
    pub(crate) target: Target,
    pub(crate) task_id: String,
    pub(crate) result: TaskResult,
    /// The server's clock at the result, for a batch step's inventory.
    pub(crate) now: jiff::Timestamp,
    /// The agent asked for its next task with the result.
    pub(crate) lease_next: bool,
    /// That request waits for work under the agent's session: when the write finds nothing for
    /// the agent, the agent is seated before it is answered (`waiting_agents`).
    pub(crate) may_seat: bool,
}

/// What an arrival is answered once its write committed (see [`Taken`]); an error when its
/// result was refused or not written.
pub(crate) type Answer = Result<Taken, ServiceError>;

/// A result its write took.
#[derive(Debug)]
pub(crate) struct Taken {
    /// This write recorded it (not a result recorded before, nor one of a task settled without
    /// it).
    pub(crate) recorded: bool,
    /// The agent's next task, when one was leased for it in that write.
    pub(crate) next: Option<Leased>,
    /// With no next task: the write looked for one pending for the agent's target and for a
    /// battery asked of its environment, and found neither; its request waits without looking
    /// again first.
    pub(crate) looked: bool,
    /// The seat it waits in, taken after the write committed and before the group's next
    /// write opened (`Arrival::may_seat`).
    pub(crate) seat: Option<Seated>,
}

/// An arrival taken into a group, with the way back to its request.
pub(crate) struct Queued {
    pub(crate) arrival: Arrival,
    pub(crate) reply: oneshot::Sender<Answer>,
}

/// The turn to write a group, held from before the group is taken off the queue until every
/// arrival in it is answered: the writer keeps it while it writes.
pub(crate) type WriteTurn = OwnedMutexGuard<()>;

/// The arrivals waiting for a write, and the turn to write a group of them.
#[derive(Default)]
pub(crate) struct Arrivals {
    queue: Mutex<Vec<Queued>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Arrivals {
    /// Queue `arrival` and answer it once a group's write holding it is done. The first
    /// request to get the turn takes every arrival queued by then (its own among them) and
    /// hands them to `write` with the turn, which must answer each of them before it lets the
    /// turn go; a lone arrival is a group of one, written at once.
    pub(crate) async fn submit(
        &self,
        arrival: Arrival,
        write: impl FnOnce(Vec<Queued>, WriteTurn),
    ) -> Answer {
        let (reply, mut answer) = oneshot::channel();
        self.lock().push(Queued { arrival, reply });
        tokio::select! {
            biased;
            answered = &mut answer => return settled(answered.ok()),
            turn = self.turn.clone().lock_owned() => {
                // The group that took this arrival answered it before giving the turn up: an
                // arrival still unanswered with the turn in hand is still queued.
                match answer.try_recv() {
                    Ok(answered) => return answered,
                    Err(oneshot::error::TryRecvError::Closed) => return settled(None),
                    Err(oneshot::error::TryRecvError::Empty) => {}
                }
                let group = std::mem::take(&mut *self.lock());
                write(group, turn);
            }
        }
        settled(answer.await.ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued>> {
        self.queue
            .lock()
            .expect("no thread panics while holding the queue of results")
    }
}

/// The answer a writer sent, or why there is none: its writer ended without answering (a
/// panic), and the agent sends the result again, which is harmless (results count once).
fn settled(answered: Option<Answer>) -> Answer {
    answered.unwrap_or_else(|| {
        // Not an outside authority being down (`Unavailable`): this server, now, and a retry
        // a moment later is the whole remedy.
        Err(ServiceError::NotYet {
            message: "the write holding this result ended before it answered".into(),
            hint: "send the result again: a result is recorded once".into(),
            retry_after_secs: 1,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(task: &str) -> Arrival {
        Arrival {
            target: Target {
                name: "web-1".into(),
                environment: None,
                roles: Vec::new(),
                facts: serde_json::Value::Null,
                status: slipway_core::deploy::target::TargetStatus::Enrolled,
                created_at: jiff::Timestamp::UNIX_EPOCH,
                last_seen_at: None,
                revoked_at: None,
            },
            task_id: task.into(),
            result: TaskResult {
                attempt: 1,
                success: true,
                exit_code: Some(0),
                summary: String::new(),
                last_lines: None,
                next: None,
            },
            now: jiff::Timestamp::UNIX_EPOCH,
            lease_next: false,
            may_seat: false,
        }
    }

    /// A writer that answers each arrival of its group with a refusal naming the group's tasks,
    /// once `go` lets it.
    fn writer(go: Arc<tokio::sync::Notify>) -> impl FnOnce(Vec<Queued>, WriteTurn) {
        move |group, turn| {
            tokio::spawn(async move {
                go.notified().await;
                let tasks: Vec<String> = group.iter().map(|q| q.arrival.task_id.clone()).collect();
                for q in group {
                    let _ = q.reply.send(Err(ServiceError::Conflict(tasks.join(","))));
                }
                drop(turn);
            });
        }
    }

    fn group_of(answer: Answer) -> String {
        match answer {
            Err(ServiceError::Conflict(tasks)) => tasks,
            other => panic!("not a group's answer: {other:?}"),
        }
    }

    #[tokio::test]
    async fn results_that_arrive_during_a_write_share_the_next_one() {
        let arrivals = Arc::new(Arrivals::default());
        let go = Arc::new(tokio::sync::Notify::new());
        let first = tokio::spawn({
            let (arrivals, go) = (arrivals.clone(), go.clone());
            async move { arrivals.submit(arrival("a"), writer(go)).await }
        });
        // The first arrival's group is being written (held by `go`): two more queue meanwhile.
        while arrivals.turn.try_lock().is_ok() {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = ["b", "c"]
            .into_iter()
            .map(|task| {
                let (arrivals, go) = (arrivals.clone(), go.clone());
                tokio::spawn(async move { arrivals.submit(arrival(task), writer(go)).await })
            })
            .collect();
        while arrivals.lock().len() < 2 {
            tokio::task::yield_now().await;
        }
        go.notify_one();
        assert_eq!(group_of(first.await.expect("no panic")), "a");
        // The next turn's group holds both later arrivals; each is answered by it.
        go.notify_one();
        for request in later {
            let group = group_of(request.await.expect("no panic"));
            assert!(group == "b,c" || group == "c,b", "{group}");
        }
    }

    #[tokio::test]
    async fn an_arrival_its_writer_drops_unanswered_is_told_to_send_again() {
        let arrivals = Arrivals::default();
        let answer = arrivals
            .submit(arrival("a"), |group, turn| {
                drop(group);
                drop(turn);
            })
            .await;
        assert!(matches!(answer, Err(ServiceError::NotYet { .. })));
        // The turn is free again for the next arrival.
        assert!(arrivals.turn.try_lock().is_ok());
    }
}
