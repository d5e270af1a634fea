//! The service desk (issue 17, in progress): one group's desks and queue, and the desk rules
//! as operations on them. Like `store::record::RoomRecord` for rooms, every store is to run
//! these same operations (the embedded store on the group it keeps in memory, the DynamoDB
//! store on a group it has just read, written back in one conditional transaction), so the
//! rules cannot differ between stores. Not wired to a store or an endpoint yet.
//!
//! Rules:
//! - An agent's desk is IDLE (free for the next caller), BUSY (in one call) or CLOSED.
//! - A caller is given the desk that has been IDLE longest (ties: the agent id), or waits in
//!   the group's queue, first come first served; the queue is bounded (for new callers: one
//!   put back after its agent vanished is never dropped).
//! - Ending a call makes the desk IDLE (CLOSED when its agent asked to close meanwhile) and
//!   gives it the next waiting caller in the same operation.
//! - A desk whose agent stops heartbeating is CLOSED once its deadline passes; its caller is
//!   told and put back at the head of the queue. A waiting caller who stops heartbeating
//!   leaves the queue.
//! - Every operation first applies time ([`DeskGroup::settle`]), then acts, then gives
//!   waiting callers to IDLE desks; what the people concerned must hear is collected as
//!   [`DeskEvent`]s.

use std::collections::{BTreeMap, VecDeque};

#[cfg(test)]
mod tests;

/// A desk's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskState {
    Idle,
    Busy,
    Closed,
}

/// One agent's desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desk {
    pub state: DeskState,
    /// When it entered its state (epoch ms): for IDLE desks, what "longest idle" compares.
    pub since_ms: u64,
    /// The agent's presence deadline.
    pub alive_until_ms: u64,
    /// The caller of its call, while BUSY, and when that caller first asked (epoch ms): a
    /// caller put back in the queue keeps its place among others put back with it.
    pub caller: Option<String>,
    pub caller_arrived_ms: u64,
    /// The agent asked to close while BUSY: CLOSED when the call ends.
    pub closing: bool,
}

/// A caller in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub caller: String,
    /// When it first asked (epoch ms); a caller put back after its agent vanished keeps it.
    pub arrived_ms: u64,
    pub alive_until_ms: u64,
}

/// What a caller's request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// In a call at this agent's desk.
    Assigned { agent: String },
    /// Waiting: 1-based position, and the queue's length.
    Queued { position: usize, length: usize },
    /// The queue holds its bound already.
    QueueFull,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The agent or the caller ended it.
    Ended,
    /// The agent stopped heartbeating; the caller waits again, first.
    AgentGone,
}

/// What the people concerned hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskEvent {
    /// To the caller and the agent: a call starts.
    Assigned { caller: String, agent: String },
    /// To a waiting caller whose place changed.
    Position {
        caller: String,
        position: usize,
        length: usize,
    },
    /// To both: the call ended.
    CallEnded {
        caller: String,
        agent: String,
        reason: EndReason,
    },
    /// To the agent: its desk closed because it stopped heartbeating.
    DeskClosed { agent: String },
    /// To the caller: it stopped heartbeating while waiting and left the queue.
    LeftQueue { caller: String },
}

/// A group's desks and queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeskGroup {
    pub desks: BTreeMap<String, Desk>,
    pub queue: VecDeque<Waiting>,
    /// What the last operation makes known, in order (the store sends and clears them).
    pub events: Vec<DeskEvent>,
}

/// What a supervisor sees of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// Agent, state, since (epoch ms), by agent id.
    pub desks: Vec<(String, DeskState, u64)>,
    pub queue_length: usize,
    pub longest_wait_ms: u64,
}

/// The rules' bounds and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskLimits {
    pub max_queue: usize,
    /// How long a caller's heartbeat keeps it in the queue, also given to a caller put back
    /// after its agent vanished.
    pub caller_timeout_ms: u64,
}

impl DeskGroup {
    /// Applies time: desks whose agents' deadlines passed close (their callers go back to
    /// the head of the queue), waiting callers whose deadlines passed leave; then waiting
    /// callers get IDLE desks. Every operation starts with it.
    pub fn settle(&mut self, now_ms: u64, limits: &DeskLimits) {
        let before = self.positions();
        let gone: Vec<String> = self
            .desks
            .iter()
            .filter(|(_, d)| d.state != DeskState::Closed && d.alive_until_ms <= now_ms)
            .map(|(agent, _)| agent.clone())
            .collect();
        let mut put_back = Vec::new();
        for agent in gone {
            let desk = self.desks.get_mut(&agent).expect("listed above");
            if let Some(caller) = desk.caller.take() {
                self.events.push(DeskEvent::CallEnded {
                    caller: caller.clone(),
                    agent: agent.clone(),
                    reason: EndReason::AgentGone,
                });
                put_back.push(Waiting {
                    caller,
                    arrived_ms: desk.caller_arrived_ms,
                    alive_until_ms: now_ms + limits.caller_timeout_ms,
                });
            }
            *desk = Desk {
                state: DeskState::Closed,
                since_ms: now_ms,
                alive_until_ms: desk.alive_until_ms,
                caller: None,
                caller_arrived_ms: 0,
                closing: false,
            };
            self.events.push(DeskEvent::DeskClosed { agent });
        }
        let mut left = Vec::new();
        self.queue.retain(|w| {
            let alive = w.alive_until_ms > now_ms;
            if !alive {
                left.push(w.caller.clone());
            }
            alive
        });
        self.events.extend(
            left.into_iter()
                .map(|caller| DeskEvent::LeftQueue { caller }),
        );
        // Put back first, in the order they had first asked.
        put_back.sort_by_key(|w| w.arrived_ms);
        for w in put_back.into_iter().rev() {
            self.queue.push_front(w);
        }
        self.dispatch(now_ms);
        self.tell_positions(&before);
    }

    /// An agent opens (or reopens) its desk: IDLE unless in a call, its deadline
    /// `alive_until_ms`. Its state after.
    pub fn open(
        &mut self,
        agent: &str,
        alive_until_ms: u64,
        now_ms: u64,
        limits: &DeskLimits,
    ) -> DeskState {
        self.settle(now_ms, limits);
        let before = self.positions();
        let desk = self.desks.entry(agent.to_owned()).or_insert(Desk {
            state: DeskState::Closed,
            since_ms: now_ms,
            alive_until_ms,
            caller: None,
            caller_arrived_ms: 0,
            closing: false,
        });
        desk.alive_until_ms = alive_until_ms;
        desk.closing = false;
        if desk.state == DeskState::Closed {
            desk.state = DeskState::Idle;
            desk.since_ms = now_ms;
        }
        self.dispatch(now_ms);
        self.tell_positions(&before);
        self.desks[agent].state
    }

    /// An agent closes its desk: CLOSED now, or when its call ends. `None`: no such desk.
    pub fn close(&mut self, agent: &str, now_ms: u64, limits: &DeskLimits) -> Option<DeskState> {
        self.settle(now_ms, limits);
        let desk = self.desks.get_mut(agent)?;
        match desk.state {
            DeskState::Busy => desk.closing = true,
            DeskState::Idle => {
                desk.state = DeskState::Closed;
                desk.since_ms = now_ms;
            }
            DeskState::Closed => {}
        }
        Some(desk.state)
    }

    /// An agent's heartbeat: whether its desk is open.
    pub fn agent_heartbeat(
        &mut self,
        agent: &str,
        alive_until_ms: u64,
        now_ms: u64,
        limits: &DeskLimits,
    ) -> bool {
        self.settle(now_ms, limits);
        match self.desks.get_mut(agent) {
            Some(desk) if desk.state != DeskState::Closed => {
                desk.alive_until_ms = desk.alive_until_ms.max(alive_until_ms);
                true
            }
            _ => false,
        }
    }

    /// A caller asks for an agent (or asks again: the same answer, its deadline extended).
    pub fn request(&mut self, caller: &str, now_ms: u64, limits: &DeskLimits) -> RequestOutcome {
        self.settle(now_ms, limits);
        if let Some(agent) = self.agent_of(caller) {
            return RequestOutcome::Assigned { agent };
        }
        let length = self.queue.len();
        if let Some(w) = self.queue.iter_mut().find(|w| w.caller == caller) {
            w.alive_until_ms = now_ms + limits.caller_timeout_ms;
            let position = self.position_of(caller).expect("found above");
            return RequestOutcome::Queued { position, length };
        }
        if length >= limits.max_queue && self.longest_idle().is_none() {
            return RequestOutcome::QueueFull;
        }
        let before = self.positions();
        self.queue.push_back(Waiting {
            caller: caller.to_owned(),
            arrived_ms: now_ms,
            alive_until_ms: now_ms + limits.caller_timeout_ms,
        });
        self.dispatch(now_ms);
        self.tell_positions(&before);
        match self.agent_of(caller) {
            Some(agent) => RequestOutcome::Assigned { agent },
            None => RequestOutcome::Queued {
                position: self.position_of(caller).expect("queued above"),
                length: self.queue.len(),
            },
        }
    }

    /// A waiting caller leaves the queue. Whether it was waiting.
    pub fn cancel(&mut self, caller: &str, now_ms: u64, limits: &DeskLimits) -> bool {
        self.settle(now_ms, limits);
        let before = self.positions();
        let was = self.queue.len();
        self.queue.retain(|w| w.caller != caller);
        self.tell_positions(&before);
        self.queue.len() != was
    }

    /// The agent or the caller of a call ends it: the desk is IDLE (or CLOSED, if its agent
    /// asked) and takes the next waiting caller. Whether `who` was in a call.
    pub fn end_call(&mut self, who: &str, now_ms: u64, limits: &DeskLimits) -> bool {
        self.settle(now_ms, limits);
        let Some((agent, desk)) = self.desks.iter_mut().find(|(agent, d)| {
            d.state == DeskState::Busy
                && (agent.as_str() == who || d.caller.as_deref() == Some(who))
        }) else {
            return false;
        };
        let caller = desk.caller.take().expect("a busy desk has a caller");
        desk.state = if desk.closing {
            DeskState::Closed
        } else {
            DeskState::Idle
        };
        desk.closing = false;
        desk.since_ms = now_ms;
        self.events.push(DeskEvent::CallEnded {
            caller,
            agent: agent.clone(),
            reason: EndReason::Ended,
        });
        let before = self.positions();
        self.dispatch(now_ms);
        self.tell_positions(&before);
        true
    }

    /// The supervisor's view after applying time: each desk's agent, state and since when,
    /// the queue's length, and how long its first caller has waited (ms).
    pub fn view(&mut self, now_ms: u64, limits: &DeskLimits) -> GroupView {
        self.settle(now_ms, limits);
        GroupView {
            desks: self
                .desks
                .iter()
                .map(|(agent, d)| (agent.clone(), d.state, d.since_ms))
                .collect(),
            queue_length: self.queue.len(),
            longest_wait_ms: self
                .queue
                .iter()
                .map(|w| now_ms.saturating_sub(w.arrived_ms))
                .max()
                .unwrap_or(0),
        }
    }

    /// The agent whose desk `caller` is in a call at.
    pub fn agent_of(&self, caller: &str) -> Option<String> {
        self.desks
            .iter()
            .find(|(_, d)| d.caller.as_deref() == Some(caller))
            .map(|(agent, _)| agent.clone())
    }

    /// A waiting caller's 1-based position.
    pub fn position_of(&self, caller: &str) -> Option<usize> {
        self.queue
            .iter()
            .position(|w| w.caller == caller)
            .map(|p| p + 1)
    }

    /// The IDLE desk that has been idle longest (ties: the smallest agent id).
    fn longest_idle(&self) -> Option<String> {
        self.desks
            .iter()
            .filter(|(_, d)| d.state == DeskState::Idle)
            .min_by_key(|(agent, d)| (d.since_ms, agent.as_str()))
            .map(|(agent, _)| agent.clone())
    }

    /// Gives waiting callers, first first, to the longest-idle desks.
    fn dispatch(&mut self, now_ms: u64) {
        while !self.queue.is_empty() {
            let Some(agent) = self.longest_idle() else {
                return;
            };
            let waiting = self.queue.pop_front().expect("not empty");
            let desk = self.desks.get_mut(&agent).expect("found above");
            desk.state = DeskState::Busy;
            desk.since_ms = now_ms;
            desk.caller = Some(waiting.caller.clone());
            desk.caller_arrived_ms = waiting.arrived_ms;
            self.events.push(DeskEvent::Assigned {
                caller: waiting.caller,
                agent,
            });
        }
    }

    /// Every waiting caller's position and the queue's length.
    fn positions(&self) -> (BTreeMap<String, usize>, usize) {
        let at = self
            .queue
            .iter()
            .enumerate()
            .map(|(i, w)| (w.caller.clone(), i + 1))
            .collect();
        (at, self.queue.len())
    }

    /// Tells each waiting caller whose position changed since `before`.
    fn tell_positions(&mut self, before: &(BTreeMap<String, usize>, usize)) {
        let length = self.queue.len();
        for (i, w) in self.queue.iter().enumerate() {
            if before.0.get(&w.caller) != Some(&(i + 1)) {
                self.events.push(DeskEvent::Position {
                    caller: w.caller.clone(),
                    position: i + 1,
                    length,
                });
            }
        }
    }
}
