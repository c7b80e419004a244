//! Bursts: tasks of one job that start close together form a group with
//! one message that counts them. Which group a start belongs to, what the
//! group's message says, and when it may change again. Pure.

use std::collections::BTreeSet;
use std::time::Duration;

/// The least time between two changes of one group's message.
/// `chat.update` is Tier 3 (about 50 a minute per workspace): a group
/// changing every 3 s leaves room for a few groups and everything else.
pub const UPDATE_GAP: Duration = Duration::from_secs(3);
/// How long one change of a group's message may take: changes never
/// overlap, so an older count can never land after a newer one.
pub const TURN_LEASE: Duration = Duration::from_secs(10);

/// The task that opened a job's group: the group's message is its start
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub task_id: String,
    /// Its record's key (`task#<task ARN>`).
    pub key: String,
    /// When it started, epoch seconds.
    pub started: i64,
}

impl Anchor {
    /// The key of the group's counts.
    pub fn group_key(&self) -> String {
        group_key(&self.key)
    }
}

pub fn group_key(anchor_key: &str) -> String {
    format!("group#{anchor_key}")
}

/// How a start claim treats its job's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Burst {
    /// Opens a group, unless another of the job's tasks opened one that
    /// started within `window` seconds of this one (then the claim answers
    /// with it, to join). `replacing`: an anchor whose group closed.
    Lead { window: i64, replacing: Option<String> },
    /// Joins the group `Anchor` opened, while its outcome is not claimed:
    /// an anchor that reported its outcome alone has no group.
    Join(Anchor),
}

/// Whether the job's current anchor keeps a task that started at `started`
/// from opening a group of its own: it belongs in the anchor's.
pub fn must_join(current: Option<&Anchor>, task_id: &str, started: i64, window: i64, replacing: Option<&str>) -> bool {
    current.is_some_and(|anchor| {
        anchor.task_id != task_id
            && Some(anchor.task_id.as_str()) != replacing
            && (anchor.started - started).abs() <= window
    })
}

/// A group's tasks and outcomes, and which of its versions is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    pub members: BTreeSet<String>,
    pub succeeded: BTreeSet<String>,
    pub failed: BTreeSet<String>,
    /// Bumped by every change.
    pub version: i64,
    /// The version its message shows (or is being changed to).
    pub shown: i64,
    /// When its message last began or finished changing, epoch ms.
    pub shown_at: i64,
    /// Until when a change under way holds the message, epoch ms.
    pub busy_until: i64,
    /// The waiter's mark: until when it is registered, epoch ms.
    pub waiter_until: i64,
}

/// What a group's message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
}

impl Counts {
    pub fn finished(&self) -> bool {
        self.running == 0
    }
}

impl Group {
    /// A task in both outcome sets (a retried completion that read its
    /// log differently) counts as failed: a failure is never hidden.
    pub fn counts(&self) -> Counts {
        let succeeded = self.succeeded.difference(&self.failed).count();
        let failed = self.failed.len();
        let total = self.members.union(&self.succeeded).chain(self.failed.difference(&self.members)).count();
        let total = total.max(succeeded + failed);
        Counts { total, running: total - succeeded - failed, succeeded, failed }
    }
}

/// Who is seeing to a group's message: a task that changed the counts,
/// or the one task that waits to change it for everyone who came since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Changed the counts to this version.
    Counted(i64),
    /// Registered as the waiter with this mark (`waiter_until`).
    Waiter(i64),
}

/// What to do next about a group's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: it shows this task's counts, or a later change will.
    Done,
    /// Change it now (take the turn).
    Take,
    /// It cannot change before this time (epoch ms): become the waiter,
    /// or, being it, look again then.
    Wait(i64),
    /// The waiter has nothing left to show: unregister.
    Unregister,
}

/// How often a change under way is looked at again: it usually ends long
/// before its lease.
const BUSY_POLL_MS: i64 = 500;

/// Changes never overlap (`busy_until`) and come at least `gap` apart. A
/// task that cannot change the message now leaves it to the one waiter:
/// the waiter's turn shows every count made before it, and any turn
/// taken meanwhile unregisters the waiter, having shown them already. A
/// version being shown counts as shown: should that change fail, its
/// invocation fails too, and its retry shows the latest.
pub fn step(group: &Group, role: Role, now_ms: i64, gap: Duration) -> Step {
    match role {
        Role::Counted(mine) if group.shown >= mine => return Step::Done,
        Role::Waiter(mark) if group.waiter_until != mark => return Step::Done,
        Role::Waiter(_) if group.shown >= group.version => return Step::Unregister,
        _ => {}
    }
    let next = group.shown_at.saturating_add(gap.as_millis() as i64);
    if group.busy_until > now_ms {
        Step::Wait(group.busy_until.min(now_ms + BUSY_POLL_MS).max(next))
    } else if now_ms >= next {
        Step::Take
    } else {
        Step::Wait(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(id: &str, started: i64) -> Anchor {
        Anchor { task_id: id.into(), key: format!("task#{id}"), started }
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_start_joins_an_anchor_within_the_window_on_either_side() {
        let a = anchor("a", 1000);
        assert!(!must_join(None, "b", 1000, 60, None), "no group yet: lead");
        assert!(must_join(Some(&a), "b", 1060, 60, None));
        assert!(must_join(Some(&a), "b", 940, 60, None), "an earlier start delivered late");
        assert!(!must_join(Some(&a), "b", 1061, 60, None), "a straggler opens its own");
        assert!(!must_join(Some(&a), "a", 1000, 60, None), "the anchor's own retry");
        assert!(!must_join(Some(&a), "b", 1010, 60, Some("a")), "the group closed");
    }

    #[test]
    fn counts_never_hide_a_failure_and_count_everyone() {
        let group = Group {
            members: set(&["a", "b", "c", "d"]),
            succeeded: set(&["a", "b"]),
            failed: set(&["b", "e"]),
            ..Group::default()
        };
        // b succeeded once and failed on a retry: failed. e finished before it joined.
        assert_eq!(group.counts(), Counts { total: 5, running: 2, succeeded: 1, failed: 2 });
        assert!(!group.counts().finished());
        let done = Group { members: set(&["a", "b"]), succeeded: set(&["a", "b"]), ..Group::default() };
        assert_eq!(done.counts(), Counts { total: 2, running: 0, succeeded: 2, failed: 0 });
        assert!(done.counts().finished());
    }

    #[test]
    fn one_change_per_gap_never_two_at_once() {
        let gap = Duration::from_secs(3);
        let group = Group { version: 7, shown: 5, shown_at: 10_000, ..Group::default() };
        assert_eq!(step(&group, Role::Counted(7), 12_000, gap), Step::Wait(13_000), "too soon after the last change");
        assert_eq!(step(&group, Role::Counted(7), 13_000, gap), Step::Take);
        assert_eq!(step(&group, Role::Counted(5), 12_000, gap), Step::Done, "mine is shown");
        assert_eq!(step(&group, Role::Counted(4), 20_000, gap), Step::Done, "a later one is shown");
        let fresh = Group { version: 1, ..Group::default() };
        assert_eq!(step(&fresh, Role::Counted(1), 1_000_000, gap), Step::Take, "never shown");
        let busy = Group { busy_until: 19_000, ..group.clone() };
        assert_eq!(
            step(&busy, Role::Counted(7), 14_000, gap),
            Step::Wait(14_500),
            "a change under way: look again soon"
        );
        assert_eq!(
            step(&busy, Role::Counted(7), 18_800, gap),
            Step::Wait(19_000),
            "until its lease ends at the latest"
        );
        assert_eq!(step(&busy, Role::Counted(7), 11_000, gap), Step::Wait(13_000), "and never before the gap");
        assert_eq!(step(&Group { shown: 7, ..busy }, Role::Counted(7), 14_000, gap), Step::Done, "mine is being shown");
    }

    #[test]
    fn the_waiter_shows_everyone_or_learns_a_turn_did() {
        let gap = Duration::from_secs(3);
        let waiting = Group { version: 9, shown: 5, shown_at: 10_000, waiter_until: 25_000, ..Group::default() };
        assert_eq!(step(&waiting, Role::Waiter(25_000), 12_000, gap), Step::Wait(13_000));
        assert_eq!(step(&waiting, Role::Waiter(25_000), 13_000, gap), Step::Take);
        let taken = Group { waiter_until: 0, ..waiting.clone() };
        assert_eq!(step(&taken, Role::Waiter(25_000), 13_000, gap), Step::Done, "a turn since covered everyone");
        let shown = Group { shown: 9, ..waiting };
        assert_eq!(step(&shown, Role::Waiter(25_000), 13_000, gap), Step::Unregister, "nothing left to show");
    }
}
