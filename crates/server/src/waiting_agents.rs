//! The agents waiting on this server for work (a lease long poll under their session), so that
//! the write which dispatches a step can lease each waiting agent's task itself and hand it
//! over when it commits: one write for a step's 20 targets instead of one more per agent.
//!
//! It only seats and calls waiters; it never writes to the store and never decides what runs.
//! A hand-over that does not reach its agent (its request ended first) leaves the task leased
//! in the agent's session, and the agent's next lease request is handed it again
//! (`services::tasks::hand_again`), so nothing is lost by a call that misses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::transitions::task_lease::Leased;

/// The seats of the agents waiting here now: at most one per target (an agent asks for one
/// task at a time; a second request from the same target takes the seat over).
#[derive(Default)]
pub(crate) struct WaitingAgents {
    /// Shared with each seat, which frees itself when it is left (a seat may be taken by the
    /// write of an agent's result and handed to its request: `services::tasks::results`).
    seats: Arc<Mutex<HashMap<String, Seat>>>,
    next_id: AtomicU64,
}

struct Seat {
    id: u64,
    hand: oneshot::Sender<Leased>,
}

/// A waiter's seat, held while its long poll lasts; leaving it (dropping it) frees the seat.
pub(crate) struct Seated {
    room: Arc<Mutex<HashMap<String, Seat>>>,
    target: String,
    id: u64,
    /// The task a dispatch leased for this agent; closed without one when the dispatch did
    /// not lease it after all (its write failed, or the seat was taken over): then the waiter
    /// looks for itself.
    pub(crate) handed: oneshot::Receiver<Leased>,
}

/// A waiting agent called by a dispatch: hand it the task leased for it once the write
/// commits; dropped unhanded, the agent looks for itself.
pub(crate) struct Called {
    hand: oneshot::Sender<Leased>,
}

impl WaitingAgents {
    /// Seat `target`'s agent until the returned seat is dropped or called.
    pub(crate) fn sit(&self, target: &str) -> Seated {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (hand, handed) = oneshot::channel();
        self.lock().insert(target.to_string(), Seat { id, hand });
        Seated {
            room: self.seats.clone(),
            target: target.to_string(),
            id,
            handed,
        }
    }

    /// Take the seat of `target`'s agent, if one waits here and its request is still open.
    pub(crate) fn call(&self, target: &str) -> Option<Called> {
        let seat = self.lock().remove(target)?;
        // A request that ended without leaving (a dropped connection) is no one to hand to.
        (!seat.hand.is_closed()).then_some(Called { hand: seat.hand })
    }

    /// How many agents wait here now (`/metrics`: `slipway_agents_waiting`).
    pub(crate) fn waiting(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seat>> {
        lock(&self.seats)
    }
}

fn lock(seats: &Mutex<HashMap<String, Seat>>) -> std::sync::MutexGuard<'_, HashMap<String, Seat>> {
    seats
        .lock()
        .expect("no thread panics while holding the waiting agents' seats")
}

impl std::fmt::Debug for Seated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seated")
            .field("target", &self.target)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Seated {
    /// Leave the seat at the end of the long poll: `None` when it was still free, else the
    /// task a dispatch that called it leased (awaited: that write is committing or failing).
    pub(crate) async fn stand_up(mut self) -> Option<Leased> {
        if self.leave() {
            return None;
        }
        (&mut self.handed).await.ok()
    }

    /// Free the seat if it is still this waiter's; whether it was.
    fn leave(&self) -> bool {
        let mut seats = lock(&self.room);
        match seats.get(&self.target) {
            Some(seat) if seat.id == self.id => {
                seats.remove(&self.target);
                true
            }
            _ => false,
        }
    }
}

impl Drop for Seated {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Called {
    /// Hand the leased task over; `false` when the waiter's request ended meanwhile (the task
    /// stays leased in its session and is handed again at the agent's next request).
    pub(crate) fn hand(self, leased: Leased) -> bool {
        self.hand.send(leased).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_left_or_dropped_is_called_by_no_dispatch() {
        let room = WaitingAgents::default();
        let seat = room.sit("web-1");
        assert_eq!(room.waiting(), 1);
        drop(seat);
        assert_eq!(room.waiting(), 0);
        assert!(room.call("web-1").is_none());
    }

    #[test]
    fn a_second_request_of_one_target_takes_the_seat_and_the_first_is_told_to_look() {
        let room = WaitingAgents::default();
        let mut first = room.sit("web-1");
        let second = room.sit("web-1");
        // The first seat's hand was dropped when the second took it over.
        assert!(matches!(
            first.handed.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        drop(first);
        // Leaving the old seat does not free the new one.
        assert_eq!(room.waiting(), 1);
        assert!(room.call("web-1").is_some());
        drop(second);
    }

    #[test]
    fn a_seat_whose_request_ended_is_not_called() {
        let room = WaitingAgents::default();
        let mut seat = room.sit("web-1");
        // The receiving end gone (as when a request's future is dropped), the seat not yet freed.
        drop(std::mem::replace(&mut seat.handed, oneshot::channel().1));
        assert!(room.call("web-1").is_none());
    }

    #[tokio::test]
    async fn a_called_seat_stands_up_with_what_was_handed_or_with_nothing() {
        let room = WaitingAgents::default();
        let seat = room.sit("web-1");
        let called = room.call("web-1").expect("seated");
        drop(called);
        // Called, then the dispatch's write failed: nothing handed, the waiter looks itself.
        assert!(seat.stand_up().await.is_none());
        assert_eq!(room.waiting(), 0);
    }
}
